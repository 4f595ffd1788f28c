"""Facilities and loads in the back office.

Every write goes through loads.services; a load's status moves only through the actions, each a
service call per load. Loads are never deleted: they are cancelled.
"""

import datetime
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import smart_split, unescape_string_literal

from customers.models import Customer
from drivers.models import Driver
from fleet.admin import RECORD_FIELDS
from fleet.models import Vehicle, VehicleType
from fleet.rules import equipment_mismatch
from loads import services
from loads.models import (
    LOAD_SEARCH_TEXT_FIELDS,
    LOAD_TRANSITIONS,
    TRANSITION_FIELDS,
    Facility,
    Load,
    LoadStatus,
    Stop,
)
from loads.selectors import AssignmentCandidates, DriverCandidate, TruckCandidate, assignment_candidates
from tms.admin import ADMIN_ERRORS, ServiceModelAdmin, error_message
from tms.exceptions import Conflict, InvalidTransition
from tms.times import local_time, wall_clock_instant

TIME_ZONES = sorted(zoneinfo.available_timezones())


class FacilityForm(forms.ModelForm):
    timezone = forms.ChoiceField(
        choices=[("", "---------"), *((zone, zone) for zone in TIME_ZONES)],
        help_text="IANA time zone of the site: appointments are shown in it.",
    )

    class Meta:
        model = Facility
        fields = "__all__"  # noqa: DJ007 - the admin narrows them to its fieldsets


@admin.register(Facility)
class FacilityAdmin(ServiceModelAdmin):
    form = FacilityForm
    list_display = ["name", "facility_type", "city", "state", "postal_code", "timezone", "contact_phone"]
    list_filter = ["facility_type", "state", "timezone"]
    search_fields = ["name", "city", "address", "postal_code"]
    readonly_fields = RECORD_FIELDS
    fieldsets = [
        (None, {"fields": ["name", "facility_type", "customer"]}),
        (
            "Address",
            {"fields": ["address", "city", "state", "postal_code", "country", "timezone", "location"]},
        ),
        ("Contact", {"fields": ["contact_name", "contact_phone"]}),
        ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    ]
    create_service = services.create_facility
    update_service = services.update_facility
    delete_service = services.delete_facility


# --- Loads ---------------------------------------------------------------------------------------

# Blank on a new load: the service fills them in (a generated number, the shipper's and consignee's
# sites). An existing load keeps them filled.
DEFAULTED_ON_CREATE = [
    "load_number",
    "pickup_location",
    "pickup_address",
    "delivery_location",
    "delivery_address",
]


class WallClockDateTimeField(forms.SplitDateTimeField):
    """A date and a time as typed, with no zone (naive): the form reads it in a facility's zone."""

    def compress(self, data_list):
        if not data_list:
            return None
        day, clock = data_list
        if day in self.empty_values or clock in self.empty_values:
            raise forms.ValidationError(self.error_messages["invalid_date"], code="invalid_date")
        return datetime.datetime.combine(day, clock)


def read_at_facility(form: forms.Form, cleaned: dict, name: str, facility: Facility | None) -> None:
    """Replaces the wall-clock time typed in `name` with the instant it names at `facility` (in
    its zone); a time the zone skips is an error on the field."""
    wall_clock = cleaned.get(name)
    if not isinstance(wall_clock, datetime.datetime) or wall_clock.tzinfo is not None:
        return
    instant = wall_clock_instant(wall_clock, facility.timezone) if facility is not None else None
    if facility is not None and instant is None:
        form.add_error(
            name, f"{wall_clock:%Y-%m-%d %H:%M} does not exist in {facility.timezone} (clocks go forward)."
        )
    # Without a facility (its own error is shown), the time stays readable for the model's checks.
    cleaned[name] = instant or wall_clock.replace(tzinfo=datetime.UTC)


def show_at_facility(
    form: forms.ModelForm, name: str, moment: datetime.datetime | None, zone: str | None
) -> None:
    """Fills `name`'s initial value with `moment` as the wall-clock time at a facility in `zone`."""
    if zone and moment is not None:
        form.initial[name] = moment.astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)


# The load's scheduled times, each entered and shown on its facility's clock.
FACILITY_TIMES = {"pickup_datetime": ("shipper", "Pickup"), "delivery_datetime": ("consignee", "Delivery")}


class LoadForm(forms.ModelForm):
    class Meta:
        model = Load
        fields = "__all__"  # noqa: DJ007 - the admin narrows them to its fieldsets

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance._state.adding:
            for name in DEFAULTED_ON_CREATE:
                if name in self.fields:
                    self.fields[name].required = False
                    self.fields[name].help_text = "Leave blank for the default."
        self._use_facility_clocks()

    def _use_facility_clocks(self) -> None:
        """Pickup and delivery times are typed and shown as wall-clock time at the shipper and the
        consignee, in the facility's zone (the label names it), never in UTC."""
        load = self.instance
        for name, (facility_field, label) in FACILITY_TIMES.items():
            if name not in self.fields:
                continue
            facility = getattr(load, facility_field) if getattr(load, f"{facility_field}_id") else None
            where = "shipper" if facility_field == "shipper" else "consignee"
            zone = facility.timezone if facility else None
            self.fields[name] = WallClockDateTimeField(
                widget=AdminSplitDateTime,
                label=f"{label} time ({zone})" if zone else f"{label} time (the {where}'s time zone)",
                help_text=f"Wall-clock time at the {where}, in its time zone.",
            )
            show_at_facility(self, name, getattr(load, name), zone)

    def _facility_instants(self, cleaned: dict) -> None:
        for name, (facility_field, _label) in FACILITY_TIMES.items():
            read_at_facility(self, cleaned, name, cleaned.get(facility_field))

    @cached_property
    def changed_data(self) -> list[str]:
        """A time typed at a facility means another instant at another facility: with the shipper
        (consignee) changed, the pickup (delivery) time is a change too, though its text is not."""
        changed = list(super().changed_data)
        for name, (facility_field, _label) in FACILITY_TIMES.items():
            if facility_field in changed and name not in changed and name in self.fields:
                changed.append(name)
        return changed

    def clean(self):
        cleaned = super().clean()
        self._facility_instants(cleaned)
        load = self.instance
        if not load._state.adding and load.status == LoadStatus.ASSIGNED and load.vehicle_id:
            # The same rule update_load enforces; checked here so the form shows it on its field.
            vehicle = load.vehicle
            weight = cleaned.get("weight")
            volume = cleaned.get("volume")
            if weight is not None and weight > vehicle.capacity_weight:
                self.add_error(
                    "weight", f"Vehicle {vehicle} carries {vehicle.capacity_weight} kg; reassign first."
                )
            if volume is not None and volume > vehicle.capacity_volume:
                self.add_error(
                    "volume", f"Vehicle {vehicle} holds {vehicle.capacity_volume} m3; reassign first."
                )
            freight = SimpleNamespace(
                **{name: cleaned.get(name) for name in services.EQUIPMENT_FIELDS},
            )
            if all(name in cleaned for name in services.EQUIPMENT_FIELDS):
                reason = equipment_mismatch(vehicle, freight)
                if reason is not None:
                    self.add_error("required_equipment", f"{reason} Reassign first.")
        return cleaned


def _truck_label(candidate: TruckCandidate) -> str:
    vehicle = candidate.vehicle
    kind = VehicleType(vehicle.vehicle_type).label.lower()
    if vehicle.vehicle_type == VehicleType.REEFER:
        kind += f" {vehicle.temperature_min_c}..{vehicle.temperature_max_c} °C"
    distance = (
        f"{candidate.deadhead_m / 1000:,.1f} km to the pickup"
        if candidate.deadhead_m is not None
        else "position unknown"
    )
    return (
        f"{vehicle.vehicle_number} - {vehicle.carrier} ({kind}, {vehicle.capacity_weight:,.0f} kg, "
        f"{vehicle.capacity_volume} m3): {distance}"
    )


def _driver_label(candidate: DriverCandidate) -> str:
    driver = candidate.driver
    return (
        f"{driver.name} - {driver.carrier} ({driver.status}, {candidate.hours_left:.2f} h left, "
        f"licence to {driver.license_expiry})"
    )


class AssignForm(forms.Form):
    """A truck and a driver for one load. The page offers only those that may take it
    (loads.selectors.assignment_candidates); any truck or driver posted is passed to the service,
    whose rules refuse an illegal one with its reason (the page may be stale, or hand-crafted)."""

    vehicle = forms.ModelChoiceField(
        queryset=Vehicle.objects.select_related("carrier"), widget=forms.RadioSelect, label="Truck"
    )
    driver = forms.ModelChoiceField(
        queryset=Driver.objects.select_related("carrier"), widget=forms.RadioSelect, label="Driver"
    )

    def offer(self, candidates: AssignmentCandidates) -> None:
        """Shows these trucks (nearest first) and drivers (with their hours left) as the choices."""
        trucks, drivers = candidates.trucks, candidates.drivers
        self.fields["vehicle"].choices = [(str(c.vehicle.pk), _truck_label(c)) for c in trucks]
        self.fields["driver"].choices = [(str(c.driver.pk), _driver_label(c)) for c in drivers]
        self.fields["vehicle"].help_text = (
            "Nearest first: deadhead distance from the truck's last position to the first pickup."
            if trucks
            else "No truck can take this load now: of its carrier, available, big enough, of a "
            "type that suits the freight, with a driver."
        )
        self.fields["driver"].help_text = (
            "Licensed through the delivery, with the hours the load needs; ready for dispatch first."
            if drivers
            else "No driver of these carriers is licensed and has the hours for this load now."
        )

    def clean(self):
        cleaned = super().clean()
        vehicle, driver = cleaned.get("vehicle"), cleaned.get("driver")
        if vehicle and driver and vehicle.carrier_id != driver.carrier_id:
            raise forms.ValidationError(
                f"Vehicle {vehicle} ({vehicle.carrier}) and driver {driver} ({driver.carrier}) work for "
                "different carriers."
            )
        return cleaned


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=255, help_text="Kept on the load and sent with LOAD_CANCELLED.")


def _describe(load: Load) -> str:
    lane = f"{load.shipper.city} to {load.consignee.city}"
    return f"{load.load_number} ({load.status}): {lane}, {load.weight} kg"


def _describe_freight(load: Load) -> str:
    """The load as the assign page states it: with the equipment its freight needs."""
    if load.required_equipment == VehicleType.REEFER:
        needs = f"reefer {load.temperature_min_c}..{load.temperature_max_c} °C"
    elif load.required_equipment:
        needs = VehicleType(load.required_equipment).label.lower()
    else:
        needs = "any equipment"
    return f"{_describe(load)}, {load.volume} m3, {needs}"


class _StateFilter(admin.SimpleListFilter):
    """The loads whose origin (shipper) or destination (consignee) facility is in a state."""

    facility: str

    def lookups(self, request, model_admin):
        states = Facility.objects.order_by("state").values_list("state", flat=True).distinct()
        return [(state, state) for state in states]

    def queryset(self, request, queryset):
        return queryset.filter(**{f"{self.facility}__state": self.value()}) if self.value() else queryset


class OriginStateFilter(_StateFilter):
    title = "origin state"
    parameter_name = "origin_state"
    facility = "shipper"


class DestinationStateFilter(_StateFilter):
    title = "destination state"
    parameter_name = "destination_state"
    facility = "consignee"


class UpcomingPickupFilter(admin.SimpleListFilter):
    """What a dispatcher plans next: loads to be picked up soon, or whose pickup time has passed
    while they wait (Django's date filter offers only past ranges)."""

    title = "pickup"
    parameter_name = "pickup"
    WINDOWS = {"next_24h": datetime.timedelta(hours=24), "next_7d": datetime.timedelta(days=7)}

    def lookups(self, request, model_admin):
        return [("next_24h", "Next 24 hours"), ("next_7d", "Next 7 days"), ("overdue", "Overdue")]

    def queryset(self, request, queryset):
        now = timezone.now()
        waiting = [LoadStatus.CREATED, LoadStatus.ASSIGNED]
        if self.value() in self.WINDOWS:
            return queryset.filter(
                pickup_datetime__gte=now, pickup_datetime__lt=now + self.WINDOWS[self.value()]
            )
        if self.value() == "overdue":
            return queryset.filter(pickup_datetime__lt=now, status__in=waiting)
        return queryset


# --- A load's stops, edited inline in order ------------------------------------------------------


class StopForm(forms.ModelForm):
    """A stop's row: its window typed and shown as wall-clock time at the stop's facility, in the
    facility's zone, as the load's own pickup and delivery times are."""

    WINDOW = ("earliest_at", "latest_at")

    class Meta:
        model = Stop
        fields = "__all__"  # noqa: DJ007 - the inline narrows them to its fields

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stop = self.instance
        zone = stop.facility.timezone if stop.facility_id else None
        for name in self.WINDOW:
            if name not in self.fields:
                continue
            self.fields[name] = WallClockDateTimeField(
                widget=AdminSplitDateTime,
                label=self.fields[name].label,
                help_text="Wall-clock time at the stop's facility, in its time zone.",
            )
            show_at_facility(self, name, getattr(stop, name), zone)

    def clean(self):
        cleaned = super().clean()
        for name in self.WINDOW:
            read_at_facility(self, cleaned, name, cleaned.get("facility"))
        return cleaned


class StopInlineFormSet(forms.BaseInlineFormSet):
    """The load's stops as rows; saved by `save_stops` through the stop services, never by the
    formset itself."""

    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.cleaned_data
            and not self._should_delete_form(form)
            and (form.instance.pk or form.has_changed())
        ]
        sequences = [form.cleaned_data.get("sequence") for form in kept]
        if len(set(sequences)) != len(sequences):
            raise forms.ValidationError("Give each stop its own sequence number: they set the order.")

    def validate_unique(self):
        pass  # sequences are renumbered by the services; duplicates are refused in clean()


class StopInline(admin.TabularInline):
    """The load's planned stops in order, edited through loads.services: a deleted row is
    `remove_stop`, a changed one `update_stop`, a new one `add_stop` at its sequence, and new
    sequence numbers `reorder_stops` (each audited and evented; a refusal is a message and nothing
    is written). Each window is typed and shown on the facility's clock. Stops are added once the load
    is booked (the add page books the seed's two)."""

    model = Stop
    form = StopForm
    formset = StopInlineFormSet
    extra = 0
    ordering = ["sequence"]
    fields = [
        "sequence",
        "kind",
        "facility",
        "earliest_at",
        "latest_at",
        "local_window",
        "service_minutes",
        "pieces",
        "weight",
        "instructions",
        "arrived_at",
        "departed_at",
    ]
    readonly_fields = ["local_window", "arrived_at", "departed_at"]
    autocomplete_fields = ["facility"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("facility")

    @admin.display(description="window, facility's time")
    def local_window(self, stop: Stop) -> str:
        if stop.pk is None:
            return ""
        zone = stop.facility.timezone
        opens, closes = local_time(stop.earliest_at, zone), local_time(stop.latest_at, zone)
        return opens if opens == closes else f"{opens} to {closes}"


def save_stops(load: Load, formset: StopInlineFormSet, *, by) -> None:
    """Applies the inline's rows through the stop services: removals, then changes, then new stops
    at their sequence (lowest first), then the order the sequence numbers give."""
    deleted = [form for form in formset.initial_forms if formset._should_delete_form(form)]
    for form in deleted:
        services.remove_stop(Stop.objects.get(pk=form.instance.pk), by=by)
    kept = [(index, form) for index, form in enumerate(formset.forms) if form not in deleted]
    existing = [(index, form) for index, form in kept if form.instance.pk and form.initial]
    for _index, form in existing:
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in services.STOP_FIELDS}
        if "kind" in form.changed_data:
            fields["kind"] = form.cleaned_data["kind"]  # refused by the service: remove and add instead
        if fields:
            services.update_stop(Stop.objects.get(pk=form.instance.pk), by=by, **fields)
    new = sorted(
        ((index, form) for index, form in kept if not form.initial and form.has_changed()),
        key=lambda pair: pair[1].cleaned_data["sequence"],
    )
    ids: dict[int, object] = {index: form.instance.pk for index, form in existing}
    for index, form in new:
        count = load.stops.count()
        data = {name: form.cleaned_data[name] for name in services.STOP_FIELDS if name in form.cleaned_data}
        data = {name: value for name, value in data.items() if value not in (None, "")}
        stop = services.add_stop(
            load,
            by=by,
            sequence=min(form.cleaned_data["sequence"], count + 1),
            kind=form.cleaned_data["kind"],
            **data,
        )
        ids[index] = stop.pk
    wanted = [
        ids[index]
        for index, form in sorted(kept, key=lambda p: (p[1].cleaned_data["sequence"], p[0]))
        if index in ids
    ]
    current = list(load.stops.order_by("sequence").values_list("pk", flat=True))
    # Rows not posted (a form without the inline's rows) leave the order as it is.
    if set(wanted) == set(current) and wanted != current:
        services.reorder_stops(load, by=by, stop_ids=wanted)


# --- The load page: times on the facility's clock, transition buttons, map --------------------------

# Shown on the load's pages in a zone, with the zone named: "origin" (the shipper's), "destination"
# (the consignee's), or None (not tied to a facility: the operator's, TMS_TIME_ZONE).
ZONED_TIMES = {
    "pickup_datetime": "origin",
    "picked_up_at": "origin",
    "delivery_datetime": "destination",
    "delivered_at": "destination",
    "expected_delivery_at": "destination",
    "assigned_at": None,
    "in_transit_at": None,
    "cancelled_at": None,
    "created_at": None,
    "updated_at": None,
}


def load_zone(load: Load, where: str | None) -> str:
    if where == "origin":
        return load.shipper.timezone
    if where == "destination":
        return load.consignee.timezone
    return settings.TMS_TIME_ZONE


def _zoned(field: str):
    @admin.display(description=Load._meta.get_field(field).verbose_name, ordering=field)
    def show(self, load: Load) -> str:
        return local_time(getattr(load, field), load_zone(load, ZONED_TIMES[field])) or "-"

    return show


@dataclass(frozen=True)
class Transition:
    """A button on the load page: the load service it calls, and whether it asks for a reason."""

    name: str
    label: str
    target: LoadStatus
    run: Callable[..., Load]  # (load, *, by, reason)
    asks_reason: bool = False


# In the order a load goes through them. Assigning has its own page (the assign action's).
TRANSITIONS = {
    transition.name: transition
    for transition in [
        Transition(
            "pick-up",
            "Mark picked up",
            LoadStatus.PICKED_UP,
            lambda load, *, by, reason: services.pick_up_load(load, by=by),
        ),
        Transition(
            "in-transit",
            "Mark in transit",
            LoadStatus.IN_TRANSIT,
            lambda load, *, by, reason: services.start_transit(load, by=by),
        ),
        Transition(
            "deliver",
            "Mark delivered",
            LoadStatus.DELIVERED,
            lambda load, *, by, reason: services.deliver_load(load, by=by),
        ),
        Transition("delay", "Report a delay…", LoadStatus.DELAYED, services.delay_load, asks_reason=True),
        Transition(
            "cancel", "Cancel the load…", LoadStatus.CANCELLED, services.cancel_load, asks_reason=True
        ),
    ]
}


def transitions_from(load: Load) -> list[Transition]:
    """The buttons for the load's status (LOAD_TRANSITIONS), less the ones the services would
    refuse at this stage (a delayed load resumes where it was)."""
    allowed = LOAD_TRANSITIONS[load.status]
    shown = []
    for transition in TRANSITIONS.values():
        if transition.target not in allowed:
            continue
        try:
            services._resume_guard(load, transition.target)
        except InvalidTransition:
            continue
        shown.append(transition)
    return shown


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, help_text="Kept on the load and sent with its event.")


def load_map(load: Load) -> dict:
    """What the load page's map draws: the stops in order, the truck's last position, and the
    current route's geometry when there is one (lon, lat pairs)."""
    stops = [
        {
            "label": str(stop.sequence),
            "kind": stop.kind,
            "facility": stop.facility.name,
            "place": f"{stop.facility.city}, {stop.facility.state}",
            "location": _lon_lat(stop.location or stop.facility.location),
            "window": _window(stop),
        }
        for stop in load.stops.select_related("facility").order_by("sequence")
    ]
    vehicle = load.vehicle
    truck = None
    if vehicle is not None and vehicle.current_location is not None:
        truck = {
            "vehicle_number": vehicle.vehicle_number,
            "location": _lon_lat(vehicle.current_location),
            "at": local_time(vehicle.location_updated_at, settings.TMS_TIME_ZONE),
        }
    # The load's routes through the reverse relation: loads does not import routing.
    route = load.routes.filter(is_current=True).only("path").first()
    return {
        "stops": stops,
        "truck": truck,
        "path": [list(point) for point in route.path.coords] if route is not None else None,
        "tile_url": settings.TMS_MAP_TILE_URL,
    }


def _lon_lat(point) -> list[float] | None:
    return [point.x, point.y] if point is not None else None


def _window(stop) -> str:
    zone = stop.facility.timezone
    if stop.earliest_at == stop.latest_at:
        return local_time(stop.earliest_at, zone)
    return f"{local_time(stop.earliest_at, zone)} to {local_time(stop.latest_at, zone)}"


# The load admin's search (LoadAdmin.get_search_results): its own columns (LOAD_SEARCH_TEXT_FIELDS,
# each with a trigram index) and these related rows' names.
LOAD_SEARCH_RELATED = [
    (["shipper_id", "consignee_id"], Facility, "name"),
    (["vehicle_id"], Vehicle, "vehicle_number"),
    (["driver_id"], Driver, "name"),
    (["customer_id"], Customer, "name"),
]


@admin.register(Load)
class LoadAdmin(ServiceModelAdmin):
    form = LoadForm
    # Fits 1,400 px: one lane column instead of shipper and consignee.
    list_display = [
        "load_number",
        "status",
        "lane",
        "pickup_local",
        "delivery_local",
        "carrier",
        "vehicle",
        "driver",
        "weight",
        "rate",
    ]
    list_filter = ["status", UpcomingPickupFilter, OriginStateFilter, DestinationStateFilter, "carrier"]
    # Searched as Django's admin searches (each word, or "quoted phrase", must appear in one of
    # the fields, any case), but without joining five tables into one OR: see get_search_results.
    search_fields = [
        "load_number",
        "commodity",
        "shipper__name",
        "consignee__name",
        "pickup_address",
        "delivery_address",
        "vehicle__vehicle_number",
        "driver__name",
        "po_number",
        "bol_number",
        "customer_reference",
        "customer__name",
    ]
    search_help_text = (
        'Each word (or "quoted phrase") must appear, in any case, in one of: load number, commodity, '
        "addresses, PO, BOL, customer reference, shipper, consignee, truck, driver or customer."
    )
    date_hierarchy = "pickup_datetime"
    # A filtered page shows "N results" without also counting every load (a second count of the
    # whole table per page view at 100,000 loads).
    show_full_result_count = False
    list_select_related = ["shipper", "consignee", "carrier", "vehicle", "driver"]
    autocomplete_fields = ["shipper", "consignee", "carrier", "customer"]
    readonly_fields = [*TRANSITION_FIELDS, *RECORD_FIELDS]
    fieldsets = [
        (None, {"fields": ["load_number", "status", "shipper", "consignee", "carrier"]}),
        (
            "Freight",
            {
                "fields": [
                    "commodity",
                    "required_equipment",
                    ("temperature_min_c", "temperature_max_c"),
                    "weight",
                    "volume",
                    "rate",
                    "notes",
                ]
            },
        ),
        ("Customer", {"fields": ["customer", "po_number", "bol_number", "customer_reference"]}),
        ("Pickup", {"fields": ["pickup_datetime", "pickup_address", "pickup_location"]}),
        ("Delivery", {"fields": ["delivery_datetime", "delivery_address", "delivery_location"]}),
        ("Assignment", {"fields": ["vehicle", "driver", "assigned_at"]}),
        (
            "Progress",
            {
                "fields": [
                    "picked_up_at",
                    "in_transit_at",
                    "delivered_at",
                    "expected_delivery_at",
                    "delay_reason",
                    "cancelled_at",
                    "cancellation_reason",
                ]
            },
        ),
        ("Estimates", {"fields": ["estimated_distance_m", "estimated_driving_hours"]}),
        ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    ]
    # routing.admin adds the routes inline: loads does not import routing.
    inlines = [StopInline]
    actions = ["assign", "mark_picked_up", "mark_in_transit", "mark_delivered", "cancel"]
    create_service = services.create_load
    update_service = services.update_load

    def get_search_results(self, request, queryset, search_term):
        """The load's own text fields through their trigram indexes (loads.migrations
        0010_load_search_trigram), and the related names (shipper, consignee, truck, driver,
        customer: small tables) as the ids of the rows that match, so the whole search is one OR of
        indexed conditions on `loads` (a BitmapOr) instead of an OR across five joined tables,
        which PostgreSQL can only answer by reading every load (2.7 s at 100,000 loads)."""
        terms = [
            unescape_string_literal(bit) if bit[0] in "\"'" and bit[-1] == bit[0] else bit
            for bit in smart_split(search_term)
        ]
        if not terms:
            return queryset, False
        for term in terms:
            match = Q()
            for field in LOAD_SEARCH_TEXT_FIELDS:
                match |= Q(**{f"{field}__icontains": term})
            for fields, model, name in LOAD_SEARCH_RELATED:
                ids = list(model.objects.filter(**{f"{name}__icontains": term}).values_list("pk", flat=True))
                for field in fields if ids else ():
                    match |= Q(**{f"{field}__in": ids})
            queryset = queryset.filter(match)
        return queryset, False

    @admin.display(description="lane", ordering="shipper__state")
    def lane(self, load: Load) -> str:
        return f"{load.shipper.city}, {load.shipper.state} → {load.consignee.city}, {load.consignee.state}"

    @admin.display(description="pickup", ordering="pickup_datetime")
    def pickup_local(self, load: Load) -> str:
        return local_time(load.pickup_datetime, load.shipper.timezone)

    @admin.display(description="delivery", ordering="delivery_datetime")
    def delivery_local(self, load: Load) -> str:
        return local_time(load.delivery_datetime, load.consignee.timezone)

    def _zoned_names(self, request, obj) -> set[str]:
        """The time fields shown read-only: all but the scheduled times a change can edit."""
        if obj is not None and not self.has_change_permission(request, obj):
            return set(ZONED_TIMES)
        return set(ZONED_TIMES) - set(FACILITY_TIMES)

    def get_fieldsets(self, request, obj=None):
        zoned = self._zoned_names(request, obj)
        return [
            (
                title,
                {
                    **options,
                    "fields": [f"{name}_local" if name in zoned else name for name in options["fields"]],
                },
            )
            for title, options in super().get_fieldsets(request, obj)
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = [*super().get_readonly_fields(request, obj), *(f"{name}_local" for name in ZONED_TIMES)]
        if obj is not None and obj.status == LoadStatus.ASSIGNED:
            # The load's carrier is its vehicle's: reassign to change it.
            return [*readonly, "carrier"]
        return readonly

    def has_change_permission(self, request, obj=None) -> bool:
        # Past ASSIGNED the load is on the road: it changes only through its transitions.
        if obj is not None and obj.status not in services.EDITABLE_STATUSES:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_inline_instances(self, request, obj=None):
        # A new load is booked with the seed's two stops; its stops are edited once it exists.
        instances = super().get_inline_instances(request, obj)
        return instances if obj is not None else [i for i in instances if not isinstance(i, StopInline)]

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            if isinstance(formset, StopInlineFormSet) and change:
                save_stops(form.instance, formset, by=request.user)
        super().save_related(request, form, formsets, change)

    def create_fields(self, form):
        fields = super().create_fields(form)
        return {name: value for name, value in fields.items() if name not in DEFAULTED_ON_CREATE or value}

    # --- actions: one service call per load ------------------------------------------------------

    @admin.action(description="Assign to vehicle and driver", permissions=["change"])
    def assign(self, request, queryset):
        """The assign page: one load, the trucks and drivers that may take it. The choice posted
        goes to loads.services.assign_load, which refuses an illegal one with its reason."""
        queryset = queryset.select_related("shipper", "consignee").order_by("load_number")
        form = AssignForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            vehicle, driver = form.cleaned_data["vehicle"], form.cleaned_data["driver"]

            def assign_one(load: Load) -> None:
                if load.status != LoadStatus.CREATED:
                    raise Conflict(f"Load is {load.status}; only CREATED loads are assigned here.")
                services.assign_load(load, by=request.user, vehicle=vehicle, driver=driver)

            self.apply_to_each(request, queryset, assign_one, done=f"Assigned to {vehicle} and {driver}")
            return None
        loads = list(queryset[:2])
        if len(loads) != 1:
            self.message_user(
                request,
                "Assign one load at a time: the page lists the trucks and drivers that may take it.",
                messages.WARNING,
            )
            return None
        load = loads[0]
        if load.status != LoadStatus.CREATED:
            self.message_user(
                request,
                f"{load}: Load is {load.status}; only CREATED loads are assigned here.",
                messages.ERROR,
            )
            return None
        form.offer(assignment_candidates(load))
        return self.render_action_form(
            request,
            queryset,
            form=form,
            action="assign",
            title="Assign load",
            description=(
                "Only the trucks and drivers that can take this load are listed: trucks of its carrier "
                "(any carrier if it has none), available, carrying its weight and volume, of a type "
                "that suits the freight, nearest to the first pickup first; drivers of the same carrier "
                "on no other load, licensed through the delivery, with the hours it needs."
            ),
            submit_label="Assign",
            describe=_describe_freight,
        )

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request, queryset):
        queryset = queryset.select_related("shipper", "consignee").order_by("load_number")
        form = CancelForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            reason = form.cleaned_data["reason"]
            self.apply_to_each(
                request,
                queryset,
                lambda load: services.cancel_load(load, by=request.user, reason=reason),
                done="Cancelled",
            )
            return None
        return self.render_action_form(
            request,
            queryset,
            form=form,
            action="cancel",
            title="Cancel loads",
            description="Cancelled loads free their vehicle and driver. Delivered loads cannot be cancelled.",
            submit_label="Cancel the loads",
            describe=_describe,
        )

    @admin.action(description="Mark picked up", permissions=["change"])
    def mark_picked_up(self, request, queryset):
        self.apply_to_each(
            request,
            queryset.order_by("load_number"),
            lambda load: services.pick_up_load(load, by=request.user),
            done="Picked up",
        )

    @admin.action(description="Mark in transit", permissions=["change"])
    def mark_in_transit(self, request, queryset):
        self.apply_to_each(
            request,
            queryset.order_by("load_number"),
            lambda load: services.start_transit(load, by=request.user),
            done="In transit",
        )

    @admin.action(description="Mark delivered", permissions=["change"])
    def mark_delivered(self, request, queryset):
        self.apply_to_each(
            request,
            queryset.order_by("load_number"),
            lambda load: services.deliver_load(load, by=request.user),
            done="Delivered",
        )

    # --- the change page: transition buttons and the map ----------------------------------------

    def get_urls(self):
        transition = self.admin_site.admin_view(self.transition_view)
        return [
            path(
                "<path:object_id>/transition/<slug:transition>/",
                transition,
                name="loads_load_transition",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        load = self.get_object(request, unquote(object_id))
        if load is not None:
            may_move = super().has_change_permission(request)  # the actions' permission
            extra_context = {
                **(extra_context or {}),
                "transitions": transitions_from(load) if may_move else [],
                "may_assign": may_move and LoadStatus.ASSIGNED in LOAD_TRANSITIONS[load.status],
                "load_map": load_map(load),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def transition_view(self, request, object_id: str, transition: str):
        """A transition button: one service call (audit row and event), the result as a message.
        Delay and cancel ask for the reason first (GET shows the form, POST applies it)."""
        load = self.get_object(request, unquote(object_id))
        chosen = TRANSITIONS.get(transition)
        if load is None or chosen is None:
            raise Http404("No such load or transition.")
        if not super().has_change_permission(request):
            raise PermissionDenied
        page = reverse("admin:loads_load_change", args=[load.pk])
        form = None
        if chosen.asks_reason:
            form = ReasonForm(request.POST if request.method == "POST" else None)
            if request.method != "POST" or not form.is_valid():
                return self._reason_page(request, load, chosen, form)
        elif request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            with transaction.atomic():
                chosen.run(load, by=request.user, reason=form.cleaned_data["reason"] if form else "")
        except ADMIN_ERRORS as error:
            self.message_user(request, f"{load}: {error_message(error)}", messages.ERROR)
        else:
            load.refresh_from_db()
            self.message_user(request, f"{load} is now {load.status}.", messages.SUCCESS)
        return HttpResponseRedirect(page)

    def _reason_page(self, request, load: Load, transition: Transition, form: ReasonForm):
        context = {
            **self.admin_site.each_context(request),
            "title": f"{transition.label.rstrip('…')}: {load.load_number}",
            "subtitle": None,
            "opts": self.opts,
            "original": load,
            "form": form,
            "transition": transition,
            "description": _describe(load),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/loads/load/transition_reason.html", context)


# Read-only times on the facility's clock (or the operator's), named `<field>_local`.
for _field in ZONED_TIMES:
    setattr(LoadAdmin, f"{_field}_local", _zoned(_field))
