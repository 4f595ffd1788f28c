"""Facilities and loads in the back office.

Every write goes through loads.services; a load's status moves only through the actions, each a
service call per load. Loads are never deleted: they are cancelled.
"""

import datetime
import zoneinfo

from django import forms
from django.contrib import admin
from django.utils import timezone

from drivers.models import Driver
from drivers.selectors import dispatchable
from drivers.selectors import hours_remaining as driver_hours_remaining
from fleet.admin import RECORD_FIELDS
from fleet.models import Vehicle, VehicleStatus
from loads import services
from loads.models import TRANSITION_FIELDS, Facility, Load, LoadStatus
from tms.admin import ServiceModelAdmin
from tms.exceptions import Conflict

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

    def clean(self):
        cleaned = super().clean()
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
        return cleaned


class VehicleChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, vehicle: Vehicle) -> str:
        return (
            f"{vehicle.vehicle_number} - {vehicle.carrier} ({vehicle.vehicle_type}, "
            f"{vehicle.capacity_weight:,.0f} kg, {vehicle.capacity_volume} m3)"
        )


class DriverChoiceField(forms.ModelChoiceField):
    """Each driver with the hours they may legally drive from now, derived from their log as the
    API's `hours_remaining` is; all the choices' logs are read in one query, once per form."""

    hours: dict | None = None

    def label_from_instance(self, driver: Driver) -> str:
        if self.hours is None:
            self.hours = driver_hours_remaining(list(self.queryset), timezone.now())
        if driver.pk not in self.hours:
            self.hours.update(driver_hours_remaining([driver], timezone.now()))
        return (
            f"{driver.name} - {driver.carrier} ({driver.status}, {self.hours[driver.pk]:.2f} h left, "
            f"licence to {driver.license_expiry})"
        )


class AssignForm(forms.Form):
    vehicle = VehicleChoiceField(
        queryset=Vehicle.objects.filter(status=VehicleStatus.AVAILABLE, carrier__is_active=True)
        .select_related("carrier")
        .order_by("carrier__name", "vehicle_number")
    )
    driver = DriverChoiceField(
        queryset=dispatchable(Driver.objects.filter(carrier__is_active=True))
        .select_related("carrier")
        .order_by("carrier__name", "name")
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


@admin.register(Load)
class LoadAdmin(ServiceModelAdmin):
    form = LoadForm
    # Fits 1,400 px: one lane column instead of shipper and consignee.
    list_display = [
        "load_number",
        "status",
        "lane",
        "pickup_datetime",
        "delivery_datetime",
        "carrier",
        "vehicle",
        "driver",
        "weight",
        "rate",
    ]
    list_filter = ["status", UpcomingPickupFilter, OriginStateFilter, DestinationStateFilter, "carrier"]
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
    date_hierarchy = "pickup_datetime"
    list_select_related = ["shipper", "consignee", "carrier", "vehicle", "driver"]
    autocomplete_fields = ["shipper", "consignee", "carrier", "customer"]
    readonly_fields = [*TRANSITION_FIELDS, *RECORD_FIELDS]
    fieldsets = [
        (None, {"fields": ["load_number", "status", "shipper", "consignee", "carrier"]}),
        ("Freight", {"fields": ["commodity", "weight", "volume", "rate", "notes"]}),
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
    inlines = []
    actions = ["assign", "mark_picked_up", "mark_in_transit", "mark_delivered", "cancel"]
    create_service = services.create_load
    update_service = services.update_load

    @admin.display(description="lane", ordering="shipper__state")
    def lane(self, load: Load) -> str:
        return f"{load.shipper.city}, {load.shipper.state} → {load.consignee.city}, {load.consignee.state}"

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
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

    def create_fields(self, form):
        fields = super().create_fields(form)
        return {name: value for name, value in fields.items() if name not in DEFAULTED_ON_CREATE or value}

    # --- actions: one service call per load ------------------------------------------------------

    @admin.action(description="Assign to vehicle and driver", permissions=["change"])
    def assign(self, request, queryset):
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
        return self.render_action_form(
            request,
            queryset,
            form=form,
            action="assign",
            title="Assign loads",
            description=(
                "Choose an available vehicle and a driver of the same carrier. Each CREATED load is "
                "assigned in turn; a vehicle or driver takes one load at a time."
            ),
            submit_label="Assign",
            describe=_describe,
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
