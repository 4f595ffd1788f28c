"""GET /api/dashboard and the scorecards against a small world whose every figure is worked out by
hand below (two days, three trucks, two carriers, six loads), their validation, their cache and
what drops it.

The range is 2026-11-02 and 2026-11-03 in the operator's zone (America/Chicago, CST after the
1 November change): [T0, T0 + 48 h) with T0 = 2026-11-02T06:00Z. GPS fixes lie on the equator,
where 0.1 degree of longitude is a known great-circle distance on PostGIS's sphere."""

import datetime
import math
import zoneinfo
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.contrib.gis.geos import LineString, Point
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from drivers.models import DutyStatusRecord, HosViolation
from drivers.tests.factories import DriverFactory
from events.models import AuditLog, OutboxEvent, StoredEvent
from fleet.models import GpsPoint, Vehicle
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.models import Load, Stop, StopEvent
from loads.services import add_stop
from loads.tests.factories import FacilityFactory, LoadFactory
from routing.models import Route, RouteFollowing
from tms.api_defaults import DRIVER
from tms.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2026, 11, 2, 6, tzinfo=datetime.UTC)
RANGE = {"from": "2026-11-02", "to": "2026-11-03"}
SPHERE_RADIUS_M = 6371008.7714  # PostGIS: the mean radius of WGS84, for use_spheroid=false
MILE_M = 1609.344


def at(hours: float) -> datetime.datetime:
    return T0 + datetime.timedelta(hours=hours)


def miles_of(degrees: float) -> float:
    return round(math.radians(degrees) * SPHERE_RADIUS_M / MILE_M, 1)


def _status_event(vehicle, hours: float, previous: str, status: str) -> None:
    StoredEvent.objects.create(
        event_id=f"00000000-0000-4000-8000-{int(hours * 100 + 100000):012d}",
        type="VEHICLE_STATUS_CHANGED",
        subject=str(vehicle.pk),
        time=at(hours),
        envelope={
            "data": {
                "vehicle_id": str(vehicle.pk),
                "carrier_id": str(vehicle.carrier_id),
                "previous_status": previous,
                "status": status,
            }
        },
    )


def _fix(vehicle, hours: float, longitude: float) -> None:
    GpsPoint.objects.create(
        vehicle_id=vehicle.pk,
        recorded_at=at(hours),
        location=Point(longitude, 0, srid=4326),
        received_at=at(hours),
    )


def _load(shipper, consignee, *, pickup: float, delivery: float, rate: str, created: float, **state) -> Load:
    """A load booked through the service, then given its history directly (a past the services
    would refuse to write: deliveries in November, checked against today's hours of service)."""
    load = LoadFactory(
        shipper=shipper,
        consignee=consignee,
        pickup_datetime=at(pickup),
        delivery_datetime=at(delivery),
        rate=Decimal(rate),
    )
    Load.objects.filter(pk=load.pk).update(created_at=at(created), **state)
    load.refresh_from_db()
    return load


def _arrived(load, vehicle, *, sequence: int, hours: float) -> None:
    """The geofence's record of the truck at a stop for half an hour: the visit, and the stop's
    arrival and departure."""
    stop = load.stops.get(sequence=sequence)
    StopEvent.objects.create(
        load=load, stop=stop, vehicle=vehicle, facility=stop.facility, kind=stop.kind,
        arrived_at=at(hours), last_inside_at=at(hours + 0.5), departed_at=at(hours + 0.5), dwell_s=1800,
    )  # fmt: skip
    Stop.objects.filter(pk=stop.pk).update(arrived_at=at(hours), departed_at=at(hours + 0.5))


@pytest.fixture
def world():
    chicago = FacilityFactory(name="Chicago DC", state="IL")
    indy = FacilityFactory(name="Indy DC", city="Indianapolis", state="IN")
    dallas = FacilityFactory(name="Dallas DC", city="Dallas", state="TX")
    acme, bolt = CarrierFactory(name="Acme"), CarrierFactory(name="Bolt")
    a1, a2, b1 = VehicleFactory(carrier=acme), VehicleFactory(carrier=acme), VehicleFactory(carrier=bolt)
    Vehicle.objects.update(created_at=at(-1000))
    Vehicle.objects.filter(pk=a1.pk).update(status="ASSIGNED")  # L5's
    Vehicle.objects.filter(pk=b1.pk).update(status="IN_TRANSIT")  # L3's
    today = timezone.now().astimezone(zoneinfo.ZoneInfo("America/Chicago")).date()
    da1 = DriverFactory(carrier=acme)
    da2 = DriverFactory(carrier=acme, license_expiry=today + datetime.timedelta(days=10))
    db1 = DriverFactory(carrier=bolt, license_expiry=today - datetime.timedelta(days=1))

    # L1 Chicago -> Indy, Acme: picked up 1 h early, delivered 1 h early. 300 miles (estimate).
    l1 = _load(chicago, indy, pickup=2, delivery=10, rate="1000", created=0.5, status="DELIVERED",
               carrier=acme, vehicle=a1, driver=da1, picked_up_at=at(1), delivered_at=at(9),
               estimated_distance_m=482_803)  # fmt: skip
    # L2 Chicago -> Dallas, Acme: pickup recorded 1 h late, but the truck was at the dock 1 h early
    # (stop event): on time; delivered 3 h late. Its route (1,000 miles) counts, not its estimate.
    l2 = _load(chicago, dallas, pickup=4, delivery=30, rate="2000", created=-24, status="DELIVERED",
               carrier=acme, vehicle=a2, driver=da2, picked_up_at=at(5), delivered_at=at(33),
               estimated_distance_m=1_287_475)  # fmt: skip
    _arrived(l2, a2, sequence=1, hours=3)
    Route.objects.create(
        load=l2, vehicle=a2, driver=da2, origin=Point(0, 0), destination=Point(1, 0),
        path=LineString((0, 0), (1, 0)), distance_m=1_609_344, duration_s=60_000, provider="GREAT_CIRCLE",
    )  # fmt: skip
    # L3 Indy -> Chicago, Bolt: picked up 1 h late, in transit, off its route since T0 + 22 h.
    l3 = _load(indy, chicago, pickup=20, delivery=40, rate="500", created=12, status="IN_TRANSIT",
               carrier=bolt, vehicle=b1, driver=db1, picked_up_at=at(21), in_transit_at=at(21.5))  # fmt: skip
    off_route = Route.objects.create(
        load=l3, vehicle=b1, driver=db1, origin=Point(20, 0), destination=Point(21, 0),
        path=LineString((20, 0), (21, 0)), distance_m=111_000, duration_s=5_000, provider="GREAT_CIRCLE",
    )  # fmt: skip
    RouteFollowing.objects.create(route=off_route, excursion_started_at=at(22), excursion_reported=True)
    # L4 Chicago -> Indy, Acme: booked, not assigned.
    l4 = _load(chicago, indy, pickup=30, delivery=36, rate="700", created=26, carrier=acme)
    # L5 Chicago -> Indy, Acme: assigned, then delayed before pickup.
    l5 = _load(chicago, indy, pickup=40, delivery=46, rate="800", created=27, status="DELAYED",
               carrier=acme, vehicle=a1, driver=da1, delay_reason="weather")  # fmt: skip
    # L6, Bolt, wholly before the range: counted nowhere.
    l6 = _load(indy, chicago, pickup=-72, delivery=-50, rate="900", created=-96, status="DELIVERED",
               carrier=bolt, vehicle=b1, driver=db1, picked_up_at=at(-70), delivered_at=at(-48))  # fmt: skip

    # Status history. A1 busy 0-9 h and 27-48 h (30 h); A2 3-33 h (30 h); B1 20-48 h (28 h): 88 h.
    for vehicle, hours, previous, status in [
        (a1, -2, "AVAILABLE", "ASSIGNED"),
        (a1, 9, "ASSIGNED", "AVAILABLE"),
        (a1, 27, "AVAILABLE", "ASSIGNED"),
        (a2, 3, "AVAILABLE", "ASSIGNED"),
        (a2, 6, "ASSIGNED", "IN_TRANSIT"),
        (a2, 33, "IN_TRANSIT", "AVAILABLE"),
        (a2, 50, "AVAILABLE", "ASSIGNED"),
        (b1, 20, "AVAILABLE", "ASSIGNED"),
        (b1, 21.5, "ASSIGNED", "IN_TRANSIT"),
    ]:
        _status_event(vehicle, hours, previous, status)
    StoredEvent.objects.create(
        event_id="00000000-0000-4000-9000-000000000001", type="LOAD_DELIVERED", subject=str(l1.pk),
        time=at(9), envelope={"data": {"carrier_id": str(acme.pk)}},
    )  # fmt: skip
    for number, hours in enumerate([2, 8]):
        StoredEvent.objects.create(
            event_id=f"00000000-0000-4000-9100-00000000000{number}", type="VEHICLE_LOCATION_UPDATED",
            subject=str(a1.pk), time=at(hours), envelope={"data": {"carrier_id": str(acme.pk)}},
        )  # fmt: skip

    # GPS. A stretch between two fixes counts at its later fix (fleet.odometer). A1: 0.1 degrees
    # empty (from the fix before the range to the first in it: it ends in the range), loaded 0.1 +
    # 0.2 (L1, 1-9 h), then 0.05 empty. A2: loaded 0.2 + 0.3 (L2, 5-33 h, the stretch ending at
    # delivery included), 0.1 empty. B1: 0.1 loaded (L3 from 21 h; L6 ended before the range).
    for vehicle, fixes in [
        (a1, [(-1, -0.1), (0, 0.0), (2, 0.1), (8, 0.3), (10, 0.35)]),
        (a2, [(4, 10.0), (6, 10.2), (33, 10.5), (34, 10.6)]),
        (b1, [(21, 20.0), (22, 20.1)]),
    ]:
        for hours, longitude in fixes:
            _fix(vehicle, hours, longitude)

    # Duty logs. DA1: on duty 1 h, driving 8 h, off 10 h, sleeper 8 h, then on duty (open): 21 h
    # in the range. DB1: driving 10 h, off duty 17 h of 29. DA2 has none.
    for driver, status, start, end in [
        (da1, "OFF_DUTY", -10, 0),
        (da1, "ON_DUTY", 0, 1),
        (da1, "DRIVING", 1, 9),
        (da1, "OFF_DUTY", 9, 19),
        (da1, "SLEEPER_BERTH", 19, 27),
        (da1, "ON_DUTY", 27, None),
        (db1, "DRIVING", 21, 31),
        (db1, "OFF_DUTY", 31, 60),
    ]:
        DutyStatusRecord.objects.create(
            driver_id=driver.pk,
            status=status,
            started_at=at(start),
            ended_at=None if end is None else at(end),
        )
    for driver, rule, hours in [
        (da1, "395.3(a)(3)(i)", 8),
        (db1, "395.3(a)(2)", 30),
        (da2, "395.3(a)(3)(i)", -5),  # before the range
    ]:
        HosViolation.objects.create(driver=driver, rule=rule, start=at(hours), end=at(hours + 1), message="")
    return SimpleNamespace(**locals())


def _get(client, path: str, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.json()
    return response.json()


ZERO_STATUSES = {"ASSIGNED": 0, "PICKED_UP": 0, "CANCELLED": 0}
ALL_TOPICS = [
    "tms.ai.predictions",
    "tms.anomalies",
    "tms.carriers",
    "tms.customers",
    "tms.drivers",
    "tms.loads",
    "tms.routes",
    "tms.system.alerts",
    "tms.vehicles",
    "tms.vehicles.tracking",
]


def test_every_dashboard_figure_matches_the_hand_count(viewer, world):
    body = _get(viewer, "/api/dashboard", **RANGE)
    assert body["range"] == {
        "start": "2026-11-02T06:00:00Z",
        "end": "2026-11-04T06:00:00Z",
        "time_zone": "America/Chicago",
    }
    assert body["loads_by_status"] == {
        "CREATED": 1,
        "DELIVERED": 2,
        "IN_TRANSIT": 1,
        "DELAYED": 1,
        **ZERO_STATUSES,
    }
    assert body["trend"] == [
        {"date": "2026-11-02", "created": 2, "delivered": 1},  # L1, L3 booked; L1 delivered
        {"date": "2026-11-03", "created": 2, "delivered": 1},  # L4, L5 booked; L2 delivered
    ]
    assert body["service"] == {
        "pickups": 3,
        "pickups_on_time": 2,  # L1; L2 by its stop event; not L3
        "on_time_pickup_rate": 0.6667,
        "deliveries": 2,
        "deliveries_on_time": 1,
        "on_time_delivery_rate": 0.5,
        "revenue": 3000.0,
        "billed_miles": 1300.0,  # 300 (L1's estimate) + 1,000 (L2's route)
        "rate_per_mile": 2.31,  # 3,000 / 1,300
    }
    assert body["miles"] == {"loaded_miles": miles_of(0.9), "empty_miles": miles_of(0.25)}
    assert body["miles"]["loaded_miles"] == 62.2
    assert body["vehicle_utilisation"] == {
        "vehicles": 3,
        "busy_hours": 88.0,
        "utilisation": round(88 / 144, 4),
    }
    assert body["driver_activity"] == {
        "hours_by_duty_status": {"OFF_DUTY": 27.0, "SLEEPER_BERTH": 8.0, "DRIVING": 18.0, "ON_DUTY": 22.0},
        "drivers_on_duty": 2,
    }
    assert body["hos_violations"] == {"total": 2, "by_rule": {"395.3(a)(2)": 1, "395.3(a)(3)(i)": 1}}
    assert body["events_per_topic"] == [
        {
            "topic": topic,
            "events": {"tms.vehicles": 7, "tms.loads": 1, "tms.vehicles.tracking": 2}.get(topic, 0),
        }
        for topic in ALL_TOPICS
    ]
    exceptions = body["open_exceptions"]
    assert exceptions["delayed_loads"]["count"] == 1
    assert [item["load_id"] for item in exceptions["delayed_loads"]["items"]] == [str(world.l5.pk)]
    assert exceptions["delayed_loads"]["items"][0]["reason"] == "weather"
    assert exceptions["route_deviations"] == {
        "count": 1,
        "items": [
            {
                "load_id": str(world.l3.pk),
                "load_number": world.l3.load_number,
                "vehicle_id": str(world.b1.pk),
                "started_at": "2026-11-03T04:00:00Z",
            }
        ],
    }
    licences = exceptions["expiring_licences"]
    assert licences["count"] == 2
    assert [(item["driver_id"], item["expired"]) for item in licences["items"]] == [
        (str(world.db1.pk), True),
        (str(world.da2.pk), False),
    ]


def test_a_carrier_filter_narrows_every_figure_to_its_loads_trucks_and_drivers(dispatcher, world):
    body = _get(dispatcher, "/api/dashboard", carrier_id=str(world.acme.pk), **RANGE)
    assert body["loads_by_status"] == {
        "CREATED": 1,
        "DELIVERED": 2,
        "IN_TRANSIT": 0,
        "DELAYED": 1,
        **ZERO_STATUSES,
    }
    assert body["service"]["pickups"] == 2
    assert body["service"]["on_time_pickup_rate"] == 1.0
    assert body["miles"] == {"loaded_miles": miles_of(0.8), "empty_miles": miles_of(0.25)}
    assert body["vehicle_utilisation"] == {"vehicles": 2, "busy_hours": 60.0, "utilisation": 0.625}
    assert body["driver_activity"]["hours_by_duty_status"] == {
        "OFF_DUTY": 10.0,
        "SLEEPER_BERTH": 8.0,
        "DRIVING": 8.0,
        "ON_DUTY": 22.0,
    }
    assert body["hos_violations"] == {"total": 1, "by_rule": {"395.3(a)(3)(i)": 1}}
    assert {row["topic"]: row["events"] for row in body["events_per_topic"]} == {
        **dict.fromkeys(ALL_TOPICS, 0),
        "tms.vehicles": 5,
        "tms.loads": 1,
        "tms.vehicles.tracking": 2,
    }
    assert body["open_exceptions"]["route_deviations"]["count"] == 0
    assert body["open_exceptions"]["expiring_licences"]["count"] == 1


def test_a_lane_filter_narrows_the_load_figures_and_leaves_deadhead_out(dispatcher, world):
    body = _get(dispatcher, "/api/dashboard", origin_state="in", **RANGE)
    assert body["loads_by_status"]["IN_TRANSIT"] == 1
    assert sum(body["loads_by_status"].values()) == 1
    assert body["service"]["pickups"] == 1
    assert body["service"]["on_time_pickup_rate"] == 0.0
    assert body["miles"] == {"loaded_miles": miles_of(0.1), "empty_miles": None}
    by_facility = _get(dispatcher, "/api/dashboard", destination_facility_id=str(world.dallas.pk), **RANGE)
    assert by_facility["service"]["revenue"] == 2000.0
    assert by_facility["trend"] == [
        {"date": "2026-11-02", "created": 0, "delivered": 0},
        {"date": "2026-11-03", "created": 0, "delivered": 1},
    ]


def test_times_in_the_range_are_exact_and_a_bare_date_is_a_whole_local_day(dispatcher, world):
    # Half of day one, as times: L1 only was picked up (1 h) and delivered (9 h) before noon CST.
    body = _get(
        dispatcher, "/api/dashboard", **{"from": "2026-11-02T06:00:00Z", "to": "2026-11-02T18:00:00Z"}
    )
    assert (body["service"]["pickups"], body["service"]["deliveries"]) == (2, 1)
    assert body["trend"] == [{"date": "2026-11-02", "created": 1, "delivered": 1}]
    # A time without an offset is the operator's: 00:00 CST is 06:00Z.
    local = _get(dispatcher, "/api/dashboard", **{"from": "2026-11-02T00:00:00", "to": "2026-11-02T12:00:00"})
    assert local["range"]["start"] == "2026-11-02T06:00:00Z"
    assert local["service"] == body["service"]


def test_the_default_range_is_today_in_the_operators_time_zone(viewer, settings):
    settings.TMS_TIME_ZONE = "Asia/Tokyo"
    body = _get(viewer, "/api/dashboard")
    tokyo_today = timezone.now().astimezone(datetime.timezone(datetime.timedelta(hours=9))).date()
    midnight = datetime.datetime.combine(
        tokyo_today, datetime.time(), tzinfo=datetime.timezone(datetime.timedelta(hours=9))
    )
    assert body["range"] == {
        "start": midnight.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (midnight + datetime.timedelta(days=1))
        .astimezone(datetime.UTC)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "time_zone": "Asia/Tokyo",
    }
    assert [day["date"] for day in body["trend"]] == [tokyo_today.isoformat()]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-03", "to": "2026-11-02"}, "from"),
        ({"from": "2026-11-02T10:00:00Z", "to": "2026-11-02T10:00:00Z"}, "from"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),  # longer than a year
        ({"from": "9999-12-31"}, "from"),
        ({"carrier": "x"}, "carrier"),  # unknown: carrier_id is the filter
        ({"carrier_id": "not-a-uuid"}, "carrier_id"),
        ({"origin_state": "Texas"}, "origin_state"),
        ({"page": "2"}, "page"),  # not a list
    ],
)
def test_a_bad_range_or_filter_is_a_400_naming_it_and_writes_nothing(dispatcher, params, field):
    audit_rows, events = AuditLog.objects.count(), OutboxEvent.objects.count()
    response = dispatcher.get("/api/dashboard", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]
    assert (AuditLog.objects.count(), OutboxEvent.objects.count()) == (audit_rows, events)


def test_scorecards_validate_their_range_the_same_way(dispatcher, world):
    for path in (f"/api/drivers/{world.da1.pk}/scorecard", f"/api/carriers/{world.acme.pk}/scorecard"):
        assert dispatcher.get(path, {"from": "2026-11-03", "to": "2026-11-01"}).status_code == 400
        assert dispatcher.get(path, {"carrier_id": str(world.acme.pk)}).status_code == 400
    assert dispatcher.get("/api/carriers/00000000-0000-4000-8000-000000000000/scorecard").status_code == 404


def test_readers_of_everyone_s_loads_see_the_dashboard_and_others_do_not(
    anon_client, roleless_client, driver_client, admin_api, dispatcher, viewer
):
    for client in (admin_api, dispatcher, viewer):
        assert client.get("/api/dashboard").status_code == 200
    assert anon_client.get("/api/dashboard").status_code == 401
    assert roleless_client.get("/api/dashboard").status_code == 403
    # A driver reads their own loads only: not the fleet's figures.
    assert driver_client.get("/api/dashboard").status_code == 403


def test_a_driver_reads_their_own_scorecard_only(world):
    user = UserFactory(username="dana", roles=[DRIVER])
    world.da1.user = user
    world.da1.save(update_fields=["user"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert api.get(f"/api/drivers/{world.da1.pk}/scorecard", RANGE).status_code == 200
    assert api.get(f"/api/drivers/{world.db1.pk}/scorecard", RANGE).status_code == 404
    assert api.get(f"/api/carriers/{world.acme.pk}/scorecard", RANGE).status_code == 403


def test_a_driver_scorecard_counts_their_loads_hours_and_violations(viewer, world):
    body = _get(viewer, f"/api/drivers/{world.da1.pk}/scorecard", **RANGE)
    assert body["driver_id"] == str(world.da1.pk)
    assert body["loads_by_status"] == {
        "CREATED": 0,
        "DELIVERED": 1,
        "IN_TRANSIT": 0,
        "DELAYED": 1,
        **ZERO_STATUSES,
    }
    assert body["service"] == {
        "pickups": 1,
        "pickups_on_time": 1,
        "on_time_pickup_rate": 1.0,
        "deliveries": 1,
        "deliveries_on_time": 1,
        "on_time_delivery_rate": 1.0,
        "revenue": 1000.0,
        "billed_miles": 300.0,
        "rate_per_mile": 3.33,
    }
    assert body["miles"] == {"loaded_miles": miles_of(0.3), "empty_miles": None}
    assert body["hos_violations"] == {"total": 1, "by_rule": {"395.3(a)(3)(i)": 1}}
    assert body["driver_activity"]["hours_by_duty_status"] == {
        "OFF_DUTY": 10.0,
        "SLEEPER_BERTH": 8.0,
        "DRIVING": 8.0,
        "ON_DUTY": 22.0,
    }
    assert body["utilisation"] == round(30 / 48, 4)  # 8 h driving + 22 h on duty of 48


def test_a_carrier_scorecard_counts_its_loads_fleet_and_capacity(viewer, world):
    body = _get(viewer, f"/api/carriers/{world.bolt.pk}/scorecard", **RANGE)
    assert body["carrier_id"] == str(world.bolt.pk)
    assert body["loads_by_status"]["IN_TRANSIT"] == 1
    assert sum(body["loads_by_status"].values()) == 1  # L6 is before the range
    assert body["service"]["pickups"] == 1
    assert body["service"]["on_time_pickup_rate"] == 0.0
    assert body["service"]["deliveries"] == 0
    assert body["service"]["rate_per_mile"] is None
    assert body["miles"] == {"loaded_miles": miles_of(0.1), "empty_miles": 0.0}
    assert body["hos_violations"] == {"total": 1, "by_rule": {"395.3(a)(2)": 1}}
    assert body["vehicle_utilisation"] == {
        "vehicles": 1,
        "busy_hours": 28.0,
        "utilisation": round(28 / 48, 4),
    }
    assert body["capacity"] == {"available_vehicles": 0, "total_vehicles": 1}  # B1 is on L3


def test_a_cached_answer_is_served_until_a_delivery_changes_it(
    dispatcher, world, django_capture_on_commit_callbacks
):
    first = _get(dispatcher, "/api/dashboard", **RANGE)
    assert first["loads_by_status"]["IN_TRANSIT"] == 1
    card = _get(dispatcher, f"/api/carriers/{world.bolt.pk}/scorecard", **RANGE)
    assert card["capacity"] == {"available_vehicles": 0, "total_vehicles": 1}
    # A change that emits no event (here straight into the table) does not reach the cached answer:
    # the second read is the cache's.
    Load.objects.filter(pk=world.l4.pk).update(status="CANCELLED", cancelled_at=at(31))
    assert _get(dispatcher, "/api/dashboard", **RANGE) == first
    # A delivery through the API: its events reach the analytics-cache consumer, which drops the
    # cached answers; the next read counts the delivered load (and the cancelled one).
    with django_capture_on_commit_callbacks(execute=True):
        response = dispatcher.post(f"/api/loads/{world.l3.pk}/deliver/", {}, format="json")
    assert response.status_code == 200, response.json()
    after = _get(dispatcher, "/api/dashboard", **RANGE)
    assert after["loads_by_status"] == {"CREATED": 0, "DELIVERED": 3, "IN_TRANSIT": 0, "DELAYED": 1,
                                        "ASSIGNED": 0, "PICKED_UP": 0, "CANCELLED": 1}  # fmt: skip
    # The scorecards are dropped by the same events: B1 is free again.
    card = _get(dispatcher, f"/api/carriers/{world.bolt.pk}/scorecard", **RANGE)
    assert card["capacity"] == {"available_vehicles": 1, "total_vehicles": 1}


def test_a_computed_dashboard_takes_the_same_queries_however_many_loads(dispatcher, settings):
    """Every figure is one statement (or a few), not one per load, truck or driver."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from loads.tests.factories import load_in

    settings.TMS_DASHBOARD_CACHE_TTL_S = 0  # Django's cache keeps nothing for 0 s: every GET computes
    today = timezone.localdate()
    window = {"from": str(today - datetime.timedelta(days=1)), "to": str(today + datetime.timedelta(days=3))}
    counts = []
    for more in (2, 4):
        for _ in range(more):
            load_in("IN_TRANSIT")
        dispatcher.get("/api/dashboard", window)
        with CaptureQueriesContext(connection) as queries:
            body = _get(dispatcher, "/api/dashboard", **window)
        counts.append(len(queries))
        assert body["loads_by_status"]["IN_TRANSIT"] == (2 if more == 2 else 6)
    assert counts[0] == counts[1]
    # 14 statements, 3 of them each in a transaction of their own that turns JIT off (selectors._rows)
    assert counts[0] <= 23


def test_a_multi_drop_load_is_on_time_only_if_its_last_drop_is(dispatcher):
    """The first drop reached early says nothing of the last one: the load is late when its last
    drop is reached after the load's delivery time (that drop's window close)."""
    chicago, indy, dallas = FacilityFactory(), FacilityFactory(), FacilityFactory()
    truck = VehicleFactory()
    load = LoadFactory(shipper=chicago, consignee=dallas, pickup_datetime=at(2), delivery_datetime=at(30))
    add_stop(load, by=None, sequence=2, kind="DELIVERY", facility=indy, earliest_at=at(8), latest_at=at(12))
    Load.objects.filter(pk=load.pk).update(
        status="DELIVERED", carrier=truck.carrier, vehicle=truck, driver=DriverFactory(carrier=truck.carrier),
        created_at=at(0), picked_up_at=at(2), delivered_at=at(33),
    )  # fmt: skip
    _arrived(load, truck, sequence=1, hours=1.5)
    _arrived(load, truck, sequence=2, hours=9)  # the first drop, early
    _arrived(load, truck, sequence=3, hours=32)  # the last, 2 h after its window closed

    service = _get(dispatcher, "/api/dashboard", **RANGE)["service"]

    assert (service["pickups"], service["pickups_on_time"]) == (1, 1)
    assert (service["deliveries"], service["deliveries_on_time"]) == (1, 0)
