"""Route following stop by stop, from recorded tracks ingested as tracking stores them (the fix,
its VEHICLE_LOCATION_UPDATED in the outbox, delivered to the route-follower consumer): the ETA at
the next stop against its window, LOAD_DELAYED naming the stop, the stops reached, completion at
the last one. The load runs due north on the 86th meridian West: a pickup at 40°N, a drop at
40.5°N and the last drop at 41°N, routed by the great-circle estimate."""

import datetime

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from events.consumers import REGISTRY, Outcome, deliver
from events.models import OutboxEvent
from events.taxonomy import EventType
from fleet import services as fleet_services
from loads.models import LoadStatus
from loads.tests.factories import FacilityFactory, load_in
from routing import handlers  # noqa: F401 - registers the route-follower consumer
from routing.models import RouteFollowing
from routing.services import optimize_load_route
from routing.tests.factories import set_stops
from tms.times import rfc3339

pytestmark = pytest.mark.django_db

LON = -86.0
MINUTE, HOUR = datetime.timedelta(minutes=1), datetime.timedelta(hours=1)


def at(latitude: float) -> Point:
    return Point(LON, latitude, srid=4326)


def on_the_road(settings, windows: dict[int, tuple[datetime.timedelta, datetime.timedelta]]):
    """A load in transit with three stops (the second and third with these windows, from `start`),
    its route, and `start`, the time the recorded track begins."""
    settings.GOOGLE_MAPS_API_KEY = None
    start = (timezone.now() + MINUTE).replace(microsecond=0)  # after the pickup, just now
    load = load_in(LoadStatus.IN_TRANSIT)
    facilities = [
        FacilityFactory(name="Kokomo DC", location=at(40.0)),
        FacilityFactory(name="Rochester Market", location=at(40.5)),
        FacilityFactory(name="Plymouth Store", location=at(41.0)),
    ]
    stops = set_stops(
        load,
        [
            dict(kind="PICKUP", facility=facilities[0], earliest_at=start - HOUR),
            *(
                dict(
                    kind="DELIVERY",
                    facility=facilities[sequence - 1],
                    earliest_at=start + windows[sequence][0],
                    latest_at=start + windows[sequence][1],
                )
                for sequence in (2, 3)
            ),
        ],
    )
    route = optimize_load_route(load, vehicle=load.vehicle, by=None)
    return load, stops, route, start


def drive(load, fixes: list[tuple[float, float, float]], start: datetime.datetime) -> list[str]:
    """Each fix (minutes after `start`, latitude, speed) stored through tracking's service, then
    its event from the outbox delivered to the route follower."""
    outcomes = []
    for minutes, latitude, speed_kmh in fixes:
        recorded_at = start + minutes * MINUTE
        fleet_services.update_vehicle_location(
            load.vehicle,
            by=None,
            longitude=LON,
            latitude=latitude,
            recorded_at=recorded_at,
            speed_kmh=speed_kmh,
        )
        event = OutboxEvent.objects.filter(type=EventType.VEHICLE_LOCATION_UPDATED.value).latest("created_at")
        assert event.envelope["data"]["recorded_at"] == rfc3339(recorded_at)
        outcomes.append(deliver(REGISTRY["route-follower"], event.envelope))
    return outcomes


def emitted(event_type: EventType) -> list[dict]:
    return [
        e.envelope["data"] for e in OutboxEvent.objects.filter(type=event_type.value).order_by("created_at")
    ]


def seconds(value: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=round(value))


def test_a_truck_late_for_the_next_stop_delays_the_load_naming_that_stop(settings):
    load, (_pickup, second, third), route, start = on_the_road(
        settings, {2: (0 * HOUR, HOUR), 3: (3 * HOUR, 5 * HOUR)}
    )
    leg_to_second, leg_to_third = route.legs[1], route.legs[2]

    assert drive(load, [(0, 40.1, 10.0)], start) == [Outcome.PROCESSED]

    # A fifth of the way to the second stop: 80% of its leg left at 10 km/h.
    eta_second = start + seconds(0.8 * leg_to_second["distance_m"] / (10 / 3.6))
    # Then 30 minutes unloading (its window is open by then) and the planned leg to the third.
    eta_third = eta_second + 30 * MINUTE + seconds(leg_to_third["duration_s"])
    late_s = round((eta_second - (start + HOUR)).total_seconds())
    [delayed] = emitted(EventType.LOAD_DELAYED)
    assert delayed["stop"] == {
        "stop_id": str(second.pk),
        "sequence": 2,
        "kind": "DELIVERY",
        "facility_id": str(second.facility_id),
        "facility_name": "Rochester Market",
        "latest_at": rfc3339(start + HOUR),
        "eta": rfc3339(eta_second),
        "lateness_s": late_s,
    }
    assert delayed["reason"] == (
        f"ETA {rfc3339(eta_second)} at stop 2 (Rochester Market), {late_s // 60} min after its window "
        "closes, from route following"
    )
    assert datetime.datetime.fromisoformat(delayed["expected_delivery_at"]) == eta_third
    assert delayed["predicted_lateness_s"] == round((eta_third - (start + 5 * HOUR)).total_seconds())
    [prediction] = emitted(EventType.AI_PREDICTION)
    assert prediction["prediction"]["stops"] == [
        {"stop_id": str(second.pk), "sequence": 2, "eta": rfc3339(eta_second), "lateness_s": late_s},
        {
            "stop_id": str(third.pk),
            "sequence": 3,
            "eta": rfc3339(eta_third),
            "lateness_s": round((eta_third - (start + 5 * HOUR)).total_seconds()),
        },
    ]
    assert prediction["prediction"]["remaining_m"] == round(
        0.8 * leg_to_second["distance_m"] + leg_to_third["distance_m"]
    )
    load.refresh_from_db()
    assert (load.status, load.expected_delivery_at) == (LoadStatus.DELAYED, eta_third)


def test_a_truck_on_time_for_every_stop_is_not_delayed(settings):
    load, _stops, _route, start = on_the_road(settings, {2: (0 * HOUR, 3 * HOUR), 3: (3 * HOUR, 6 * HOUR)})

    drive(load, [(0, 40.1, 80.0), (6, 40.11, 80.0)], start)

    assert emitted(EventType.LOAD_DELAYED) == []
    assert emitted(EventType.AI_PREDICTION) == []


def test_after_the_second_stop_the_eta_is_for_the_third(settings):
    # On time for the second stop; the third's window closes early.
    load, (_pickup, _second, third), route, start = on_the_road(
        settings, {2: (0 * HOUR, 3 * HOUR), 3: (0 * HOUR, 90 * MINUTE)}
    )

    drive(load, [(30, 40.4995, 10.0)], start)  # 55 m from the second stop: reached, no ETA there
    assert RouteFollowing.objects.get(route=route).reached_sequence == 2
    assert emitted(EventType.LOAD_DELAYED) == []

    drive(load, [(80, 40.6, 10.0)], start)

    # Leg fractions count from the second stop: a fifth of the way to the third.
    eta_third = start + 80 * MINUTE + seconds(0.8 * route.legs[2]["distance_m"] / (10 / 3.6))
    [delayed] = emitted(EventType.LOAD_DELAYED)
    assert (delayed["stop"]["stop_id"], delayed["stop"]["sequence"]) == (str(third.pk), 3)
    assert delayed["stop"]["eta"] == rfc3339(eta_third)
    assert [stop["sequence"] for stop in emitted(EventType.AI_PREDICTION)[0]["prediction"]["stops"]] == [3]


def test_an_arrival_recorded_on_the_stop_counts_as_reached(settings):
    load, (_pickup, second, _third), _route, start = on_the_road(
        settings, {2: (0 * HOUR, 10 * MINUTE), 3: (0 * HOUR, 90 * MINUTE)}
    )
    second.arrived_at = start + 20 * MINUTE  # the facility geofence saw it (late, and passed)
    second.save(update_fields=["arrived_at"])

    drive(load, [(40, 40.6, 10.0)], start)

    [delayed] = emitted(EventType.LOAD_DELAYED)
    assert delayed["stop"]["sequence"] == 3


def test_the_route_completes_at_the_last_stop_only_after_the_others(settings):
    load, _stops, route, start = on_the_road(settings, {2: (0 * HOUR, 9 * HOUR), 3: (0 * HOUR, 9 * HOUR)})

    drive(load, [(0, 41.0, 0.0)], start)  # at the last stop's place before the second stop
    assert emitted(EventType.ROUTE_COMPLETED) == []

    drive(load, [(30, 40.5, 0.0), (60, 40.8, 60.0), (90, 41.0, 0.0), (95, 41.0, 0.0)], start)

    [completed] = emitted(EventType.ROUTE_COMPLETED)
    assert completed["route_id"] == str(route.pk)
    state = RouteFollowing.objects.get(route=route)
    assert (state.reached_sequence, state.completed_at) == (3, start + 90 * MINUTE)
