"""The load page of the back office: a button per transition allowed from the load's status, each a
service call (audit row, event) reported as a message; the map's data (stops in order, truck,
route); and times shown and entered on the facility's clock with the zone named."""

import datetime
import json
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from events.models import AuditLog, OutboxEvent
from loads.models import Load, LoadStatus, Stop, StopKind
from loads.tests.factories import FacilityFactory, LoadFactory, load_in
from routing.tests.factories import straight_route
from tms.tests.admin_cases import NO_INLINE_ROWS, admin_url, counts, messages_of

pytestmark = pytest.mark.django_db

LOADS = "/admin/loads/load/"
CHICAGO = ZoneInfo("America/Chicago")


def page(client, load):
    return client.get(admin_url("loads.load", "change", load.pk))


def transition_url(load, name: str) -> str:
    return admin_url("loads.load", "transition", load.pk, name)


def buttons(response) -> list[str]:
    return re.findall(r'data-transition="([a-z-]+)"', response.content.decode())


def embedded(response, element_id: str):
    match = re.search(
        rf'<script id="{element_id}" type="application/json">(.*?)</script>', response.text, re.S
    )
    assert match, f"no #{element_id} in the page"
    return json.loads(match.group(1))


# --- Transition buttons ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("CREATED", ["assign", "cancel"]),
        ("ASSIGNED", ["assign", "pick-up", "delay", "cancel"]),
        ("PICKED_UP", ["in-transit", "delay", "cancel"]),
        ("IN_TRANSIT", ["deliver", "delay", "cancel"]),
        ("DELAYED", ["pick-up", "delay", "cancel"]),  # delayed before pickup: resumes there
        ("DELIVERED", []),
        ("CANCELLED", []),
    ],
)
def test_the_page_has_a_button_for_each_transition_allowed_from_the_status(client, desk, status, expected):
    load = load_in(status)
    client.force_login(desk)

    assert buttons(page(client, load)) == expected


def test_a_viewer_gets_no_buttons_and_cannot_post_a_transition(client, reader):
    load = load_in("ASSIGNED")
    client.force_login(reader)
    before = counts()

    assert buttons(page(client, load)) == []
    assert client.post(transition_url(load, "pick-up")).status_code == 403
    assert Load.objects.get(pk=load.pk).status == LoadStatus.ASSIGNED
    assert counts() == before


def test_the_pick_up_button_picks_the_load_up_through_the_service(client, desk):
    load = load_in("ASSIGNED")
    client.force_login(desk)

    response = client.post(transition_url(load, "pick-up"), follow=True)

    load.refresh_from_db()
    assert load.status == LoadStatus.PICKED_UP
    assert response.redirect_chain[-1][0] == admin_url("loads.load", "change", load.pk)
    assert messages_of(response) == [f"{load} is now PICKED_UP."]
    assert OutboxEvent.objects.filter(type="LOAD_PICKED_UP", subject=str(load.pk)).count() == 1
    assert AuditLog.objects.filter(table_name="loads", record_id=str(load.pk), user=desk).exists()


def test_a_transition_the_status_does_not_allow_is_a_message_and_changes_nothing(client, desk):
    load = load_in("CREATED")
    client.force_login(desk)
    before = counts()

    response = client.post(transition_url(load, "deliver"), follow=True)

    assert Load.objects.get(pk=load.pk).status == LoadStatus.CREATED
    assert "DELIVERED" in messages_of(response)[0]
    assert counts() == before


def test_a_get_does_not_move_a_load(client, desk):
    load = load_in("ASSIGNED")
    client.force_login(desk)
    before = counts()

    assert client.get(transition_url(load, "pick-up")).status_code == 405
    assert client.post(transition_url(load, "teleport")).status_code == 404
    assert counts() == before


@pytest.mark.parametrize(
    ("name", "status", "field"),
    [("cancel", "CANCELLED", "cancellation_reason"), ("delay", "DELAYED", "delay_reason")],
)
def test_cancel_and_delay_ask_for_a_reason_first(client, desk, name, status, field):
    load = load_in("IN_TRANSIT")
    client.force_login(desk)
    before = counts()

    form = client.get(transition_url(load, name))
    blank = client.post(transition_url(load, name), {"reason": ""})
    assert form.status_code == blank.status_code == 200
    assert 'name="reason"' in form.content.decode()
    assert "required" in blank.context["form"].errors["reason"][0]
    assert counts() == before

    done = client.post(transition_url(load, name), {"reason": "bridge closed on I-70"}, follow=True)

    load.refresh_from_db()
    assert load.status == status
    assert getattr(load, field) == "bridge closed on I-70"
    assert messages_of(done)[0].endswith(f"now {status}.")
    assert OutboxEvent.objects.filter(type=f"LOAD_{status}", subject=str(load.pk)).count() == 1


def test_the_assign_button_opens_the_assign_page(client, desk):
    load = load_in("CREATED")
    client.force_login(desk)

    response = client.post(LOADS, {"action": "assign", "_selected_action": [str(load.pk)]})

    assert response.status_code == 200
    assert "vehicle" in response.context["form"].fields
    assert f'value="{load.pk}"' in response.content.decode()
    assert 'name="action" value="assign"' in page(client, load).content.decode()


# --- Map -----------------------------------------------------------------------------------------------


def test_the_map_has_the_stops_in_order_the_truck_and_the_route(client, desk):
    load = load_in("ASSIGNED")
    columbus = FacilityFactory(
        name="Buckeye DC", city="Columbus", state="OH", location=Point(-82.9988, 39.9612)
    )
    Stop.objects.create(
        load=load, sequence=3, kind=StopKind.DELIVERY, facility=columbus, location=columbus.location,
        address=columbus.address, earliest_at=load.delivery_datetime, latest_at=load.delivery_datetime,
    )  # fmt: skip
    load.vehicle.current_location = Point(-87.0, 41.0, srid=4326)
    load.vehicle.location_updated_at = timezone.now()
    load.vehicle.save()
    straight_route(load, vehicle=load.vehicle, driver=load.driver)
    client.force_login(desk)

    data = embedded(page(client, load), "record-map-data")

    assert [(stop["label"], stop["kind"], stop["place"]) for stop in data["stops"]] == [
        ("1", "PICKUP", "Chicago, IL"),
        ("2", "DELIVERY", "Indianapolis, IN"),
        ("3", "DELIVERY", "Columbus, OH"),
    ]
    assert data["stops"][2]["location"] == [-82.9988, 39.9612]
    assert data["truck"]["location"] == [-87.0, 41.0]
    assert data["truck"]["vehicle_number"] == load.vehicle.vehicle_number
    assert data["path"][0] == list(load.pickup_location.coords)
    assert data["tile_url"]


def test_the_route_page_has_the_routes_geometry(client, desk, world):
    client.force_login(desk)

    data = embedded(client.get(admin_url("routing.route", "change", world.route.pk)), "record-map-data")

    assert data["path"] == [list(point) for point in world.route.path.coords]
    assert [stop["kind"] for stop in data["stops"]] == ["ORIGIN", "DESTINATION"]


# --- Time zones -------------------------------------------------------------------------------------


def laredo_to_denver():
    laredo = FacilityFactory(
        city="Laredo", state="TX", location=Point(-99.5075, 27.5306), timezone="America/Chicago"
    )
    denver = FacilityFactory(
        city="Denver", state="CO", location=Point(-104.9903, 39.7392), timezone="America/Denver"
    )
    pickup = datetime.datetime(2026, 12, 12, 2, 0, tzinfo=datetime.UTC)  # 20:00 CST the evening before
    return LoadFactory(
        shipper=laredo,
        consignee=denver,
        pickup_datetime=pickup,
        delivery_datetime=pickup + datetime.timedelta(hours=20),
    )


def test_the_list_shows_pickup_and_delivery_on_the_facilitys_clock(client, desk):
    load = laredo_to_denver()
    client.force_login(desk)

    text = client.get(LOADS).content.decode()

    assert "2026-12-11 20:00 CST" in text  # Laredo
    assert "2026-12-12 15:00 MST" in text  # Denver
    assert load.load_number in text


def change_form(form, load, *, pickup: tuple[str, str], delivery: tuple[str, str], **fields) -> dict:
    """The load's change form as posted: its fields as the page showed them, the pickup and the
    delivery typed as (date, time) on their facilities' clocks, `fields` changed."""
    return {
        **{
            name: form[name].value()
            for name in ("load_number", "shipper", "consignee", "weight", "volume", "rate")
        },
        "pickup_address": load.pickup_address,
        "pickup_location": load.pickup_location.ewkt,
        "delivery_address": load.delivery_address,
        "delivery_location": load.delivery_location.ewkt,
        "pickup_datetime_0": pickup[0],
        "pickup_datetime_1": pickup[1],
        "delivery_datetime_0": delivery[0],
        "delivery_datetime_1": delivery[1],
        **NO_INLINE_ROWS,
        **fields,
    }


def test_the_form_shows_and_takes_wall_clock_time_in_each_facilitys_zone(client, desk):
    load = laredo_to_denver()
    client.force_login(desk)
    form = page(client, load).context["adminform"].form
    assert form.fields["pickup_datetime"].label == "Pickup time (America/Chicago)"
    assert form.fields["delivery_datetime"].label == "Delivery time (America/Denver)"
    assert form["pickup_datetime"].value() == datetime.datetime(2026, 12, 11, 20, 0)

    response = client.post(
        admin_url("loads.load", "change", load.pk),
        # Laredo's clock; the delivery unchanged
        change_form(form, load, pickup=("2026-12-11", "18:30"), delivery=("2026-12-12", "15:00")),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    load.refresh_from_db()
    assert load.pickup_datetime == datetime.datetime(2026, 12, 12, 0, 30, tzinfo=datetime.UTC)
    assert load.delivery_datetime == datetime.datetime(2026, 12, 12, 22, 0, tzinfo=datetime.UTC)


def test_a_new_consignee_reads_the_delivery_time_on_its_own_clock(client, desk):
    load = laredo_to_denver()
    dallas = FacilityFactory(
        city="Dallas", state="TX", location=Point(-96.797, 32.7767), timezone="America/Chicago"
    )
    client.force_login(desk)
    form = page(client, load).context["adminform"].form

    response = client.post(
        admin_url("loads.load", "change", load.pk),
        # The delivery as typed for Denver: now 15:00 in Dallas
        change_form(
            form,
            load,
            pickup=("2026-12-11", "20:00"),
            delivery=("2026-12-12", "15:00"),
            consignee=str(dallas.pk),
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    load.refresh_from_db()
    assert load.consignee == dallas
    assert load.pickup_datetime == datetime.datetime(2026, 12, 12, 2, 0, tzinfo=datetime.UTC)
    assert load.delivery_datetime == datetime.datetime(2026, 12, 12, 21, 0, tzinfo=datetime.UTC)


def test_a_time_the_clocks_skip_is_refused_on_its_field(client, desk):
    load = laredo_to_denver()
    client.force_login(desk)
    form = page(client, load).context["adminform"].form
    before = counts()

    response = client.post(
        admin_url("loads.load", "change", load.pk),
        # Chicago springs forward from 02:00 to 03:00
        change_form(form, load, pickup=("2027-03-14", "02:30"), delivery=("2027-03-15", "15:00")),
    )

    assert response.status_code == 200
    assert (
        "does not exist in America/Chicago" in response.context["adminform"].form.errors["pickup_datetime"][0]
    )
    assert counts() == before


def test_progress_times_are_shown_with_their_zone(client, desk):
    load = load_in("PICKED_UP")
    client.force_login(desk)

    text = page(client, load).content.decode()

    picked_up = load.picked_up_at.astimezone(CHICAGO)
    assert f"{picked_up:%Y-%m-%d %H:%M} {picked_up.tzname()}" in text
