"""The back office's route and fleet-plan pages: every page loads for the roles that may see it,
routes are read-only, and fleet plans are requested and accepted through routing's services.
Shared helpers and fixtures: tms/tests/admin_cases.py."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from events.models import AuditLog
from fleet.tests.factories import CarrierFactory, VehicleFactory
from loads.tests.factories import LoadFactory
from routing.models import FleetPlan
from routing.tests.factories import proposed_plan
from tms.tests.admin_cases import AdminPageCases, admin_url, messages_of, run_action

pytestmark = pytest.mark.django_db


class TestPages(AdminPageCases):
    pages = [
        ("routing.route", "route", False),
        ("routing.fleetplan", "plan", False),
    ]
    changelists = [
        ("/admin/routing/route/", lambda: None),
    ]


def test_accepting_a_fleet_plan_in_the_back_office_assigns_through_the_services(client, desk):
    carrier = CarrierFactory()
    vehicle = VehicleFactory(carrier=carrier)  # in Chicago, like the factory's shipper
    driver = DriverFactory(carrier=carrier)
    load = LoadFactory(pickup_datetime=timezone.now() + datetime.timedelta(hours=2))
    plan = proposed_plan()
    client.force_login(desk)
    page = client.get(admin_url("routing.fleetplan", "change", plan.pk)).content.decode()
    assert vehicle.vehicle_number in page and load.load_number in page

    response = run_action(client, admin_url("routing.fleetplan", "changelist"), "accept", [plan])

    assert any("Accepted" in message for message in messages_of(response))
    load.refresh_from_db()
    assert (load.status, load.vehicle_id, load.driver_id) == ("ASSIGNED", vehicle.pk, driver.pk)
    plan.refresh_from_db()
    assert plan.status == "ACCEPTED" and plan.accepted_by == desk
    assert AuditLog.objects.filter(table_name="fleet_plans", record_id=str(plan.pk), user=desk).exists()


def test_a_dispatcher_requests_a_fleet_plan_from_the_back_office(
    client, desk, reader, settings, eager_celery
):
    settings.ROUTING_FLEET_TIME_LIMIT_S = 1
    changelist = admin_url("routing.fleetplan", "changelist")
    client.force_login(reader)
    assert "Plan the fleet" not in client.get(changelist).content.decode()
    assert client.post(reverse("admin:routing_fleetplan_plan")).status_code == 403
    assert not FleetPlan.objects.exists()
    client.force_login(desk)
    assert "Plan the fleet" in client.get(changelist).content.decode()

    response = client.post(reverse("admin:routing_fleetplan_plan"), follow=True)

    (plan,) = FleetPlan.objects.all()
    assert response.redirect_chain[-1][0] == admin_url("routing.fleetplan", "change", plan.pk)
    assert plan.status == "PROPOSED" and plan.requested_by == desk
