"""`manage.py seed_demo`: the demo is complete, written through the services, deterministic and
idempotent, and its logins work with the roles they are named after."""

import io
import itertools
import random
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from drivers import selectors
from drivers.models import Driver, DutyStatusRecord, HosViolation
from events.models import AuditAction, AuditLog, OutboxEvent
from fleet.models import Carrier, Vehicle
from fleet.rules import equipment_mismatch
from loads.models import Facility, Load, LoadStatus
from loads.tests.factories import LoadFactory
from tms.management.commands import seed_demo

pytestmark = pytest.mark.django_db
PASSWORD = "demo-pass"


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def totals() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (User, Carrier, Vehicle, Driver, Facility, Load, AuditLog, OutboxEvent)
    }


def statuses(model) -> dict[str, int]:
    return dict(model.objects.values_list("status").annotate(n=Count("pk")))


def test_seeding_an_empty_database_builds_the_demo_through_the_services():
    output = seed("--if-empty")

    assert (Carrier.objects.count(), Vehicle.objects.count(), Driver.objects.count()) == (5, 50, 60)
    assert Facility.objects.count() >= 30
    assert Load.objects.count() == 200
    loads = statuses(Load)
    assert set(loads) == set(LoadStatus.values)
    assert loads == {
        "CREATED": 48,
        "ASSIGNED": 12,
        "PICKED_UP": 6,
        "IN_TRANSIT": 14,
        "DELAYED": 8,
        "DELIVERED": 96,
        "CANCELLED": 16,
    }
    assert {"AVAILABLE", "ASSIGNED", "IN_TRANSIT", "MAINTENANCE", "OUT_OF_SERVICE"} <= set(statuses(Vehicle))
    assert {"AVAILABLE", "ON_DUTY", "DRIVING", "OFF_DUTY"} <= set(statuses(Driver))

    # Through the services: every write has its audit row by `admin`, every load its events.
    admin = User.objects.get(username="admin")
    assert not AuditLog.objects.exclude(user=admin).exists()
    assert not AuditLog.objects.exclude(correlation_id__startswith="seed-demo-").exists()
    creates = (
        AuditLog.objects.filter(action=AuditAction.CREATE).values_list("table_name").annotate(n=Count("pk"))
    )
    expected = {"carriers": 5, "vehicles": 50, "drivers": 60, "facilities": 32, "loads": 200}
    assert {table: dict(creates).get(table) for table in expected} == expected
    events = dict(OutboxEvent.objects.values_list("type").annotate(n=Count("pk")))
    assert events["LOAD_CREATED"] == 200
    assert events["LOAD_DELIVERED"] == 96
    assert events["LOAD_CANCELLED"] == 16
    assert events["LOAD_ASSIGNED"] == 200 - 48 - 10  # all but the pending and those cancelled unassigned
    assert events["VEHICLE_LOCATION_UPDATED"] == 50 + 20  # home positions, then the trucks on the road
    assert_the_multi_stop_loads_were_built_through_the_stop_services(events)

    # Plausible data.
    now = timezone.now()
    assert not Load.objects.filter(status=LoadStatus.CREATED, pickup_datetime__lte=now).exists()
    assert not Load.objects.filter(status=LoadStatus.DELIVERED, delivered_at__gt=now).exists()
    assert not Load.objects.filter(status=LoadStatus.IN_TRANSIT, in_transit_at=None).exists()
    for load in Load.objects.filter(status=LoadStatus.DELIVERED):
        assert load.pickup_datetime < load.delivery_datetime
        assert load.picked_up_at <= load.in_transit_at <= load.delivered_at
        assert load.weight <= load.vehicle.capacity_weight
    # Equipment: each load needs what its freight was picked for, reefer loads with their range,
    # and every truck a load was given suits it.
    assert not Load.objects.filter(required_equipment="").exists()
    reefer_loads = Load.objects.filter(required_equipment="REEFER")
    assert reefer_loads.count() >= 10
    assert not reefer_loads.filter(temperature_min_c=None).exists()
    assert not Vehicle.objects.filter(vehicle_type="REEFER", temperature_min_c=None).exists()
    for load in Load.objects.exclude(vehicle=None).select_related("vehicle"):
        assert equipment_mismatch(load.vehicle, load) is None, load.load_number
    vins = list(Vehicle.objects.values_list("vin", flat=True))
    assert all(len(vin) == 17 and check_digit_is_valid(vin) for vin in vins)
    assert Driver.objects.filter(license_expiry__lt=timezone.localdate()).count() == 2
    assert Vehicle.objects.filter(current_location=None).count() == 0

    # Users and roles.
    assert admin.is_superuser and admin.groups.filter(name="ADMIN").exists()
    dispatcher = User.objects.get(username="dispatcher")
    assert dispatcher.is_staff and not dispatcher.is_superuser
    assert [g.name for g in dispatcher.groups.all()] == ["DISPATCHER"]
    assert User.objects.get(username="driver1").driver.employee_number == "GLF-1001"
    assert User.objects.get(username="viewer").is_staff
    assert "loads       200" in output
    assert "http://127.0.0.1:8000/admin/" in output
    assert "dispatcher" in output

    # The drivers' duty-status logs (checked on this seeding: a second one costs half a minute).
    assert_the_drivers_have_a_legal_week_of_duty_status_matching_their_loads()


def assert_the_drivers_have_a_legal_week_of_duty_status_matching_their_loads():
    now = timezone.now()
    since = now - timedelta(days=8)

    # Legal under the engine: no violation recorded, none found in the 8 days.
    assert not HosViolation.objects.exists()
    drivers = list(Driver.objects.all())
    assert all(selectors.violations_between(driver, since, now) == [] for driver in drivers)

    # Each load hauled in the last 8 days is in its driver's log: on duty before the pickup was
    # recorded, driving between leaving and delivering, off duty after.
    hauled = Load.objects.filter(delivered_at__gte=since, status=LoadStatus.DELIVERED)
    assert hauled.count() >= 5
    for load in hauled:
        records = DutyStatusRecord.objects.filter(
            driver_id=load.driver_id, started_at__gte=load.picked_up_at - timedelta(hours=1)
        ).filter(started_at__lte=load.delivered_at)
        statuses = list(records.order_by("started_at").values_list("status", flat=True))
        assert statuses[0] == "ON_DUTY" and "DRIVING" in statuses, load.load_number
        after = DutyStatusRecord.objects.get(driver_id=load.driver_id, started_at=load.delivered_at)
        assert after.status == "OFF_DUTY"
    # Multi-day trips show their rests in the sleeper; trucks on the road have drivers at work.
    assert DutyStatusRecord.objects.filter(status="SLEEPER_BERTH").exists()
    on_the_road = Load.objects.filter(status=LoadStatus.IN_TRANSIT).values_list("driver_id", flat=True)
    latest = [DutyStatusRecord.objects.filter(driver_id=pk).latest("started_at") for pk in on_the_road]
    assert all(record.ended_at is None for record in latest)
    assert "DRIVING" in {record.status for record in latest}


def assert_the_multi_stop_loads_were_built_through_the_stop_services(events: dict[str, int]) -> None:
    shapes = {
        tuple(load.stops.order_by("sequence").values_list("kind", flat=True)): load
        for load in Load.objects.annotate(n=Count("stops")).filter(n__gt=2)
    }
    assert set(shapes) == {
        ("PICKUP", "PICKUP", "PICKUP", "DELIVERY"),  # the milk run
        ("PICKUP", "DELIVERY", "DELIVERY"),  # the two-drop retail delivery
    }
    for load in shapes.values():
        stops = list(load.stops.order_by("sequence"))
        assert (load.shipper_id, load.consignee_id) == (stops[0].facility_id, stops[-1].facility_id)
        assert (load.pickup_datetime, load.delivery_datetime) == (stops[0].earliest_at, stops[-1].latest_at)
        assert len({stop.facility_id for stop in stops}) == len(stops)
        assert sum(s.weight for s in stops if s.kind == "PICKUP") == load.weight
        assert sum(s.weight for s in stops if s.kind == "DELIVERY") == load.weight
    assert events["LOAD_STOP_ADDED"] == 2 + 1
    assert events["LOAD_STOP_UPDATED"] == 2


def check_digit_is_valid(vin: str) -> bool:
    total = sum(seed_demo.VIN_VALUES[c] * w for c, w in zip(vin, seed_demo.VIN_WEIGHTS, strict=True))
    return vin[8] == ("X" if total % 11 == 10 else str(total % 11))


def test_a_second_run_creates_nothing_and_the_demo_logins_work(client, monkeypatch):
    seed()
    monkeypatch.setenv("PORT", "9010")  # `make run PORT=9010`
    dispatcher = User.objects.get(username="dispatcher")
    dispatcher.set_password("changed-since")
    dispatcher.save()
    before = totals()

    output = seed()

    assert totals() == before
    assert "created: 0 users, 0 carriers, 0 vehicles, 0 drivers, 0 customers, 0 facilities, 0 loads" in output
    assert "Log in at http://127.0.0.1:9010/admin/" in output
    # Logins, each with its role's back-office rights.
    assert client.login(username="dispatcher", password=PASSWORD)
    load = Load.objects.filter(status=LoadStatus.CREATED).first()
    page = client.get(f"/admin/loads/load/{load.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' in page.content.decode()
    dispatcher = User.objects.get(username="dispatcher")
    assert dispatcher.has_perms(["loads.add_load", "loads.change_load", "fleet.delete_vehicle"])
    assert not dispatcher.has_perm("loads.delete_load")

    assert client.login(username="viewer", password=PASSWORD)
    page = client.get(f"/admin/loads/load/{load.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.get("/admin/events/auditlog/").status_code == 200

    assert client.login(username="admin", password=PASSWORD)
    assert client.get("/admin/auth/user/").status_code == 200
    token = client.post(
        "/api/auth/token/", {"username": "driver1", "password": PASSWORD}, content_type="application/json"
    )
    assert token.status_code == 200
    assert token.json()["roles"] == ["DRIVER"]


def test_if_empty_does_nothing_when_a_load_exists():
    LoadFactory()
    before = totals()
    output = seed("--if-empty")
    assert totals() == before
    assert Carrier.objects.count() == 0
    assert "nothing seeded" in output
    assert "dispatcher" in output


def test_the_demo_is_the_same_on_every_run():
    now = timezone.now().replace(second=0, microsecond=0)
    today = timezone.localdate(now)

    def build(now: datetime):
        rng = random.Random(seed_demo.SEED)
        vehicles = seed_demo.vehicle_specs(rng)
        drivers = seed_demo.driver_specs(rng, today)
        plans = seed_demo.plan_loads(rng, now, vehicles, drivers)
        return vehicles, drivers, plans

    first, second = build(now), build(now)
    assert [v.fields for v in first[0]] == [v.fields for v in second[0]]
    assert [d.fields for d in first[1]] == [d.fields for d in second[1]]
    assert [(p.load_number, p.kind, p.pickup_datetime, p.weight) for p in first[2]] == [
        (p.load_number, p.kind, p.pickup_datetime, p.weight) for p in second[2]
    ]
    # A later run plans the same loads, shifted in time with it.
    later = build(now + timedelta(hours=5))[2]
    assert [(p.load_number, p.kind, p.pickup_datetime + timedelta(hours=5)) for p in first[2]] == [
        (p.load_number, p.kind, p.pickup_datetime) for p in later
    ]


def test_no_truck_or_driver_is_booked_on_overlapping_loads():
    now = timezone.now().replace(second=0, microsecond=0)
    rng = random.Random(seed_demo.SEED)
    vehicles = seed_demo.vehicle_specs(rng)
    drivers = seed_demo.driver_specs(rng, timezone.localdate(now))
    plans = seed_demo.plan_loads(rng, now, vehicles, drivers)
    far_future = now + timedelta(days=365)
    for resource in ("vehicle", "driver"):
        booked: dict[int, list[tuple[datetime, datetime]]] = {}
        for plan in plans:
            unit = getattr(plan, resource)
            if unit is None or plan.kind == seed_demo.CANCELLED_ASSIGNED:
                continue
            end = plan.delivered_at if plan.kind == seed_demo.DELIVERED else far_future
            booked.setdefault(id(unit), []).append((plan.pickup_datetime, end))
        for intervals in booked.values():
            intervals.sort()
            assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(intervals))
    for plan in plans:
        if plan.vehicle is not None:
            assert plan.vehicle.carrier is plan.driver.carrier
            assert plan.weight <= plan.vehicle.fields["capacity_weight"]
            assert plan.volume <= plan.vehicle.fields["capacity_volume"]
            freight = SimpleNamespace(
                required_equipment=plan.required_equipment,
                temperature_min_c=plan.temperature_range[0] if plan.temperature_range else None,
                temperature_max_c=plan.temperature_range[1] if plan.temperature_range else None,
            )
            truck = SimpleNamespace(
                **{"temperature_min_c": None, "temperature_max_c": None, **plan.vehicle.fields}
            )
            assert equipment_mismatch(truck, freight) is None, plan.load_number
