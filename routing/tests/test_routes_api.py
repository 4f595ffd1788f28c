"""POST /api/routes/optimize-load and GET /api/routes/jobs/{id}: Celery runs eagerly, its results
in the real Redis backend; Google is mocked at the HTTP layer."""

import json
import uuid
from pathlib import Path

import pytest
import responses

from drivers.tests.factories import DriverFactory
from events.models import AuditLog, OutboxEvent
from fleet.models import Vehicle
from fleet.tests.factories import VehicleFactory
from loads.models import Load
from loads.tests.factories import LoadFactory, load_in
from routing import tasks
from routing.api import views
from routing.models import Route, RouteProvider
from routing.tests.factories import straight_route

DIRECTIONS_URL = "https://maps.googleapis.com/maps/api/directions/json"
FIXTURES = Path(__file__).parent / "fixtures"
OPTIMIZE_URL = "/api/routes/optimize-load"


def directions(name: str) -> dict:
    return json.loads((FIXTURES / f"directions_{name}.json").read_text())


@pytest.fixture(autouse=True)
def _eager(eager_celery, settings):
    """Every test here runs its jobs eagerly (conftest.eager_celery)."""


@pytest.fixture
def google(settings):
    settings.GOOGLE_MAPS_API_KEY = "AIzaTestKeyForRecordedAnswers"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(DIRECTIONS_URL, json=directions("ok"))
        yield mock


@pytest.fixture
def load(db):
    return LoadFactory()


@pytest.fixture
def vehicle(db):
    return VehicleFactory()


# Rows an optimisation could touch: the route, and the load and vehicle it is for.
ROUTING_ROWS = (Route, Load, Vehicle)


def test_optimizing_returns_202_and_the_job_reports_the_route(dispatcher, google, load, vehicle):
    driver = DriverFactory(carrier=vehicle.carrier)

    response = dispatcher.post(
        OPTIMIZE_URL,
        {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk), "driver_id": str(driver.pk)},
        format="json",
    )

    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]
    assert uuid.UUID(job_id)
    assert response.json()["status"] == "PENDING"
    assert response.json()["status_url"] == f"http://testserver/api/routes/jobs/{job_id}"
    status = dispatcher.get(response.json()["status_url"])
    assert status.status_code == 200
    route = Route.objects.get(load=load)
    assert status.json() == {
        "job_id": job_id,
        "status": "SUCCEEDED",
        "route_id": str(route.pk),
        "error": None,
    }
    assert (route.vehicle, route.driver, route.provider) == (vehicle, driver, RouteProvider.GOOGLE_MAPS)
    assert AuditLog.objects.get(table_name="routes").user == dispatcher.user


def test_the_route_reads_as_geojson_with_steps(dispatcher, viewer, google, load, vehicle):
    dispatcher.post(OPTIMIZE_URL, {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json")
    route = Route.objects.get(load=load)

    response = viewer.get(f"/api/routes/{route.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["path"]["type"] == "LineString"
    assert body["path"]["coordinates"][0] == pytest.approx([-87.6298, 41.8781])
    assert body["path"]["coordinates"][-1] == pytest.approx([-86.1581, 39.7684])
    assert body["origin"]["type"] == "Point"
    assert body["steps"][1] == {
        "instruction": "Merge onto I-65 S. Toll road",
        "distance_m": 288_000,
        "duration_s": 9800,
    }
    assert (body["distance_m"], body["duration_in_traffic_s"], body["provider"]) == (
        290_000,
        11_220,
        "GOOGLE_MAPS",
    )
    assert (body["load_id"], body["vehicle_id"], body["driver_id"]) == (str(load.pk), str(vehicle.pk), None)
    assert body["score_explanation"]["traffic"]["ratio"] == 1.1


def test_a_failed_job_reports_the_error(dispatcher, google, load, vehicle, eager_celery, nothing_written):
    eager_celery.task_eager_propagates = False
    google.replace(responses.GET, DIRECTIONS_URL, json=directions("zero_results"))

    with nothing_written(*ROUTING_ROWS):
        response = dispatcher.post(
            OPTIMIZE_URL, {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json"
        )

    assert response.status_code == 202
    status = dispatcher.get(response.json()["status_url"])
    assert status.json()["status"] == "FAILED"
    assert status.json()["route_id"] is None
    assert status.json()["error"]["code"] == "no_road_route"


def test_a_queued_job_is_pending(dispatcher, load, vehicle, settings, monkeypatch, nothing_written):
    monkeypatch.setattr(views.optimize_load_route_task, "apply_async", lambda *args, **kwargs: None)

    with nothing_written(*ROUTING_ROWS):
        response = dispatcher.post(
            OPTIMIZE_URL, {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json"
        )
    status = dispatcher.get(response.json()["status_url"])

    assert status.json()["status"] == "PENDING"


def test_an_unknown_job_is_404(dispatcher, nothing_written):
    with nothing_written(*ROUTING_ROWS):
        response = dispatcher.get(f"/api/routes/jobs/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_job_id_that_is_not_a_uuid_is_404_not_500(dispatcher):
    # Found by schemathesis: control characters in the id reached the cache key, a 500.
    response = dispatcher.get("/api/routes/jobs/%F3%82%AB%8C%12%1F%C2%BDR")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("client_name", ["viewer", "driver_client"])
def test_only_operators_may_optimize(request, client_name, google, load, vehicle, nothing_written):
    client = request.getfixturevalue(client_name)

    with nothing_written(*ROUTING_ROWS):
        response = client.post(
            OPTIMIZE_URL, {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json"
        )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert len(google.calls) == 0


def test_anonymous_callers_are_asked_to_authenticate(anon_client, load, vehicle, nothing_written):
    with nothing_written(*ROUTING_ROWS):
        response = anon_client.post(
            OPTIMIZE_URL, {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json"
        )

    assert response.status_code == 401


@pytest.mark.parametrize("client_name", ["viewer", "driver_client"])
def test_only_operators_may_read_job_status(
    request, client_name, dispatcher, google, load, vehicle, nothing_written
):
    job = dispatcher.post(
        OPTIMIZE_URL, {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json"
    )
    client = request.getfixturevalue(client_name)

    with nothing_written(*ROUTING_ROWS):
        response = client.get(job.json()["status_url"])

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "load_id"),
        ({"vehicle_id": "{vehicle}"}, "load_id"),
        ({"load_id": "{load}"}, "vehicle_id"),
        ({"load_id": "not-a-uuid", "vehicle_id": "{vehicle}"}, "load_id"),
        ({"load_id": str(uuid.uuid4()), "vehicle_id": "{vehicle}"}, "load_id"),
        ({"load_id": "{load}", "vehicle_id": str(uuid.uuid4())}, "vehicle_id"),
        ({"load_id": "{load}", "vehicle_id": "{vehicle}", "driver_id": str(uuid.uuid4())}, "driver_id"),
        ({"load_id": "{load}", "vehicle_id": 7}, "vehicle_id"),
        ({"load": "{load}", "vehicle": "{vehicle}"}, "load"),
    ],
)
def test_bad_input_is_400(dispatcher, google, load, vehicle, body, field, nothing_written):
    filled = {
        key: value.format(load=load.pk, vehicle=vehicle.pk) if isinstance(value, str) else value
        for key, value in body.items()
    }

    with nothing_written(*ROUTING_ROWS):
        response = dispatcher.post(OPTIMIZE_URL, filled, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]
    assert len(google.calls) == 0


def test_a_body_that_is_not_an_object_is_400(dispatcher, load, vehicle, nothing_written):
    with nothing_written(*ROUTING_ROWS):
        response = dispatcher.post(OPTIMIZE_URL, [str(load.pk), str(vehicle.pk)], format="json")

    assert response.status_code == 400


def test_a_cancelled_load_is_refused_before_queueing(dispatcher, google, nothing_written):
    load = load_in("CANCELLED")
    vehicle = VehicleFactory()

    with nothing_written(*ROUTING_ROWS):
        response = dispatcher.post(
            OPTIMIZE_URL, {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json"
        )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "business_rule_violation"
    assert len(google.calls) == 0


def test_routes_stay_read_only(dispatcher, google, load, vehicle, nothing_written):
    dispatcher.post(OPTIMIZE_URL, {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json")
    route = Route.objects.get(load=load)

    with nothing_written(*ROUTING_ROWS):
        assert dispatcher.post("/api/routes", {}, format="json").status_code == 405
        assert dispatcher.patch(f"/api/routes/{route.pk}", {"score": 1}, format="json").status_code == 405
        assert dispatcher.delete(f"/api/routes/{route.pk}").status_code == 405


def test_routes_filter_by_the_ids_of_their_load_vehicle_and_driver(viewer):
    first, second = load_in("ASSIGNED"), load_in("ASSIGNED")
    routes = {
        load.pk: straight_route(load, vehicle=load.vehicle, driver=load.driver) for load in (first, second)
    }

    def ids(query: str) -> list[str]:
        response = viewer.get(f"/api/routes?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids(f"load_id={first.pk}") == [str(routes[first.pk].pk)]
    assert ids(f"vehicle_id={second.vehicle_id}") == [str(routes[second.pk].pk)]
    assert ids(f"driver_id={first.driver_id}&is_current=true") == [str(routes[first.pk].pk)]
    assert viewer.get(f"/api/routes?load_id={uuid.uuid4()}").status_code == 400


def test_a_driver_sees_only_routes_of_their_loads(driver_client, dispatcher, google, load, vehicle):
    dispatcher.post(OPTIMIZE_URL, {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)}, format="json")

    response = driver_client.get("/api/routes")

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_the_job_carries_the_requests_correlation_id(dispatcher, google, load, vehicle):
    dispatcher.post(
        OPTIMIZE_URL,
        {"load_id": str(load.pk), "vehicle_id": str(vehicle.pk)},
        format="json",
        HTTP_X_REQUEST_ID="plan-42",
    )

    assert AuditLog.objects.get(table_name="routes").correlation_id == "plan-42"
    assert OutboxEvent.objects.get(type="ROUTE_OPTIMIZED").envelope["correlationid"] == "plan-42"


def test_a_worker_sets_the_correlation_id_it_was_given(google, load, vehicle):
    # Through the module: a task imported by name would be a module attribute, and pytest's
    # collection would evaluate its proxy, fixing Celery's configuration before eager_celery.
    route_id = tasks.optimize_load_route_task.apply(
        args=[str(load.pk), str(vehicle.pk), None, None], kwargs={"correlation_id": "worker-7"}
    ).get()

    assert AuditLog.objects.get(table_name="routes", record_id=route_id).correlation_id == "worker-7"
