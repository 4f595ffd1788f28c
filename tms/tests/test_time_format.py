"""One time format: RFC 3339 in UTC with `Z` in API bodies, event envelopes and their data, and
WebSocket messages; never `+00:00` or another offset (issue 12, item 2)."""

import datetime
import json
import re
import zoneinfo
from typing import Any

import pytest

from events.models import AuditLog, OutboxEvent
from fleet.tests.factories import VehicleFactory
from routing.tests.factories import proposed_plan
from routing.tests.test_fleet import load, truck
from tms.tests.factories import UserFactory
from tms.times import local_time, rfc3339, wall_clock_instant
from tms.ws import event_text

pytestmark = pytest.mark.django_db

LOOKS_LIKE_A_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


def times_in(value: Any) -> list[str]:
    """Every string in a JSON value that looks like a timestamp."""
    if isinstance(value, dict):
        return [time for item in value.values() for time in times_in(item)]
    if isinstance(value, list):
        return [time for item in value for time in times_in(item)]
    return [value] if isinstance(value, str) and LOOKS_LIKE_A_TIME.match(value) else []


def assert_utc_z(value: Any, *, at_least: int) -> list[str]:
    times = times_in(value)
    assert len(times) >= at_least, times
    assert [time for time in times if not RFC3339_UTC.match(time)] == []
    return times


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime.datetime(2026, 11, 25, 8, 30, tzinfo=datetime.UTC), "2026-11-25T08:30:00Z"),
        (
            datetime.datetime(
                2026, 11, 25, 10, 30, 0, 120, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
            ),
            "2026-11-25T08:30:00.000120Z",
        ),
        (
            datetime.datetime(
                2026, 11, 24, 22, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-10, minutes=-30))
            ),
            "2026-11-25T08:30:00Z",
        ),
    ],
)
def test_the_helper_gives_utc_with_z(moment, expected):
    assert rfc3339(moment) == expected


def test_the_helper_refuses_a_naive_time():
    with pytest.raises(ValueError, match="naive"):
        rfc3339(datetime.datetime(2026, 11, 25, 8, 30))


def test_a_location_report_in_another_zone_is_utc_everywhere(dispatcher):
    vehicle = VehicleFactory(current_location=None)
    recorded_at = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)).replace(microsecond=0)
    in_chicago = recorded_at.astimezone(datetime.timezone(datetime.timedelta(hours=-6))).isoformat()
    response = dispatcher.put(
        f"/api/vehicles/{vehicle.pk}/location",
        {"longitude": -87.6, "latitude": 41.9, "recorded_at": in_chicago},
        format="json",
    )
    assert response.status_code == 200, response.content

    detail = dispatcher.get(f"/api/vehicles/{vehicle.pk}").json()
    assert detail["location_updated_at"] == rfc3339(recorded_at)
    assert_utc_z(detail, at_least=3)
    assert_utc_z(dispatcher.get(f"/api/vehicles/{vehicle.pk}/tracking").json(), at_least=1)

    event = OutboxEvent.objects.get(type="VEHICLE_LOCATION_UPDATED")
    assert event.envelope["data"]["recorded_at"] == rfc3339(recorded_at)
    assert_utc_z(event.envelope, at_least=2)  # `time` and the data's recorded_at
    assert_utc_z(json.loads(event_text(event.envelope)), at_least=2)  # as /ws sends it

    audit = AuditLog.objects.get(record_id=str(vehicle.pk), action="UPDATE")
    assert audit.changed_data["location_updated_at"] == rfc3339(recorded_at)


def test_a_published_event_gets_its_times_in_utc(dispatcher):
    vehicle = VehicleFactory()
    data = {
        "vehicle_id": str(vehicle.pk),
        "carrier_id": str(vehicle.carrier_id),
        "reason": "brake inspection",
        "due_at": "2026-12-24T09:00:00+02:00",
    }
    response = dispatcher.post(
        "/api/events/publish",
        {"type": "VEHICLE_MAINTENANCE_DUE", "subject": str(vehicle.pk), "data": data},
        format="json",
    )
    assert response.status_code == 202, response.content
    envelope = OutboxEvent.objects.get(type="VEHICLE_MAINTENANCE_DUE").envelope
    assert envelope["data"]["due_at"] == "2026-12-24T07:00:00Z"
    assert_utc_z(envelope, at_least=2)


def test_a_time_without_its_offset_is_refused_in_event_data(dispatcher):
    vehicle = VehicleFactory()
    data = {
        "vehicle_id": str(vehicle.pk),
        "carrier_id": str(vehicle.carrier_id),
        "reason": "x",
        "due_at": "2026-12-24T09:00:00",
    }
    response = dispatcher.post(
        "/api/events/publish",
        {"type": "VEHICLE_MAINTENANCE_DUE", "subject": str(vehicle.pk), "data": data},
        format="json",
    )
    assert response.status_code == 400
    assert "data" in response.json()["error"]["details"]
    assert not OutboxEvent.objects.filter(type="VEHICLE_MAINTENANCE_DUE").exists()


def test_a_fleet_plan_gives_its_request_and_schedule_in_utc(dispatcher, eager_celery, settings):
    settings.ROUTING_FLEET_TIME_LIMIT_S = 1
    truck(-95.0)
    load(-95.0, -94.0, pickup_in=1)
    plan = proposed_plan()
    body = dispatcher.get(f"/api/fleet-plans/{plan.pk}").json()
    assert body["loads_planned"] == 1
    times = assert_utc_z(body, at_least=8)  # request.at, each stop's times, depart/finish, row times
    assert body["request"]["at"] in times
    (event,) = OutboxEvent.objects.filter(type="FLEET_PLAN_PROPOSED")
    assert_utc_z(event.envelope, at_least=1)


def test_a_facility_time_is_shown_on_the_facility_clock_with_its_zone():
    # A 02:00 UTC pickup at a Laredo dock is 20:00 the evening before there, in standard time...
    assert (
        local_time(datetime.datetime(2026, 12, 7, 2, 0, tzinfo=datetime.UTC), "America/Chicago")
        == "2026-12-06 20:00 CST"
    )
    # ...and 21:00 in summer, when the zone's name changes with its offset.
    assert (
        local_time(datetime.datetime(2026, 7, 7, 2, 0, tzinfo=datetime.UTC), "America/Chicago")
        == "2026-07-06 21:00 CDT"
    )
    assert local_time(None, "America/Chicago") == ""


@pytest.mark.parametrize(
    ("wall_clock", "zone", "expected"),
    [
        # Laredo's 20:00 on a winter evening is 02:00 UTC the next day.
        (datetime.datetime(2026, 12, 6, 20, 0), "America/Chicago", datetime.datetime(2026, 12, 7, 2, 0)),
        (datetime.datetime(2026, 7, 6, 21, 0), "America/Chicago", datetime.datetime(2026, 7, 7, 2, 0)),
        (datetime.datetime(2026, 12, 7, 8, 0), "America/Phoenix", datetime.datetime(2026, 12, 7, 15, 0)),
        # Clocks going back: 01:30 happens twice; the first (daylight time) is meant.
        (datetime.datetime(2026, 11, 1, 1, 30), "America/Chicago", datetime.datetime(2026, 11, 1, 6, 30)),
        # Clocks going forward: 02:30 never happens.
        (datetime.datetime(2027, 3, 14, 2, 30), "America/Chicago", None),
    ],
)
def test_a_wall_clock_time_at_a_facility_names_one_instant(wall_clock, zone, expected):
    instant = wall_clock_instant(wall_clock, zone)
    assert instant == (expected.replace(tzinfo=datetime.UTC) if expected else None)


def test_the_back_office_names_the_zone_of_times_not_tied_to_a_facility(client, settings, world, desk):
    settings.TMS_TIME_ZONE = "America/Denver"
    client.force_login(desk)

    page = client.get(f"/admin/routing/route/{world.route.pk}/change/").content.decode()
    api = client.get(f"/api/routes/{world.route.pk}")

    created = world.route.created_at.astimezone(zoneinfo.ZoneInfo("America/Denver"))
    assert f"{created:%Y-%m-%d %H:%M} {created.tzname()}" in page  # e.g. 2026-12-07 01:00 MST
    assert api.json()["created_at"] == rfc3339(world.route.created_at)  # the API stays in UTC


def test_the_admin_homes_figures_stay_in_utc_like_the_api(client):
    client.force_login(UserFactory(username="zone-desk", is_staff=True))

    figures = client.get("/admin/dashboard/figures/").json()

    assert figures["range"]["start"].endswith("Z") and figures["range"]["end"].endswith("Z")
