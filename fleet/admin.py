"""Carriers and vehicles in the back office; every write goes through fleet.services."""

from django import forms
from django.contrib import admin
from django.db.models import Count

from fleet import services
from fleet.models import Carrier, Vehicle, VehicleStatus
from fleet.rules import check_keeps_carrier_on_load, check_still_fits_its_load
from tms.admin import ReadOnlyInline, ServiceModelAdmin
from tms.api_defaults import is_operator
from tms.exceptions import BusinessRuleViolation

RECORD_FIELDS = ["id", "created_at", "updated_at"]


class VehicleInline(ReadOnlyInline):
    model = Vehicle
    fields = ["vehicle_number", "vehicle_type", "make", "model", "year", "status"]


@admin.register(Carrier)
class CarrierAdmin(ServiceModelAdmin):
    list_display = ["name", "dot_number", "mc_number", "is_active", "vehicle_count", "contact_phone"]
    list_filter = ["is_active"]
    search_fields = ["name", "dot_number", "mc_number"]
    readonly_fields = RECORD_FIELDS
    fieldsets = [
        (None, {"fields": ["name", "dot_number", "mc_number", "is_active"]}),
        ("Contact", {"fields": ["contact_email", "contact_phone"]}),
        ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    ]
    # drivers.admin adds the drivers inline: fleet does not import drivers.
    inlines = [VehicleInline]
    create_service = services.create_carrier
    update_service = services.update_carrier
    delete_service = services.delete_carrier

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(vehicle_count=Count("vehicles"))

    @admin.display(description="vehicles", ordering="vehicle_count")
    def vehicle_count(self, carrier: Carrier) -> int:
        return carrier.vehicle_count


class KeepsCarrierOnLoadForm(forms.ModelForm):
    """The form of a truck or a driver: on a load, its carrier cannot change (fleet.rules), said
    on the field rather than after saving."""

    asset = "vehicle"

    def clean(self):
        cleaned = super().clean()
        carrier = cleaned.get("carrier")
        if not self.instance._state.adding and carrier:
            try:
                check_keeps_carrier_on_load(self.instance, carrier, what=self.asset)
            except BusinessRuleViolation as error:
                self.add_error("carrier", error.message)
        return cleaned


class VehicleForm(KeepsCarrierOnLoadForm):
    class Meta:
        model = Vehicle
        fields = "__all__"  # noqa: DJ007 - the admin narrows them to its fieldsets
        labels = {"temperature_min_c": "Reefer unit from (°C)", "temperature_max_c": "to (°C)"}

    def clean(self):
        """A truck on a load keeps suiting its freight (fleet.rules), said on the form."""
        cleaned = super().clean()
        if not self.instance._state.adding:
            equipment = {
                name: cleaned[name]
                for name in ("vehicle_type", "temperature_min_c", "temperature_max_c")
                if name in cleaned and name in self.changed_data
            }
            try:
                check_still_fits_its_load(self.instance, equipment)
            except BusinessRuleViolation as error:
                self.add_error(None, error.message)
        return cleaned


@admin.register(Vehicle)
class VehicleAdmin(ServiceModelAdmin):
    form = VehicleForm
    list_display = [
        "vehicle_number",
        "carrier",
        "vehicle_type",
        "make",
        "model",
        "year",
        "status",
        "capacity_weight",
        "capacity_volume",
        "location_updated_at",
    ]
    list_filter = ["status", "vehicle_type", "fuel_type", "carrier"]
    search_fields = ["vehicle_number", "vin", "license_plate", "make", "model", "carrier__name"]
    list_select_related = ["carrier"]
    autocomplete_fields = ["carrier"]
    readonly_fields = ["status", "location_updated_at", "fuel_level", *RECORD_FIELDS]
    fieldsets = [
        (None, {"fields": ["vehicle_number", "carrier", "status"]}),
        (
            "Equipment",
            {
                "fields": [
                    "vehicle_type",
                    ("temperature_min_c", "temperature_max_c"),
                    "make",
                    "model",
                    "year",
                    "vin",
                    "license_plate",
                    "fuel_type",
                    "fuel_consumption_l_per_100km",
                ]
            },
        ),
        ("Capacity", {"fields": ["capacity_weight", "capacity_volume"]}),
        (
            "Position",
            {"fields": ["current_location", "location_updated_at", "fuel_level", "tracker_device_id"]},
        ),
        ("Maintenance", {"fields": ["odometer", "engine_hours", "last_maintenance_at"]}),
        ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    ]
    actions = ["send_to_maintenance", "return_to_service"]
    create_service = services.create_vehicle
    update_service = services.update_vehicle
    delete_service = services.delete_vehicle
    location_service = services.update_vehicle_location

    def get_fieldsets(self, request, obj=None):
        """The OsmAnd device id (the tracker's credential) only for those who manage trackers."""
        fieldsets = super().get_fieldsets(request, obj)
        if is_operator(request.user):
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "tracker_device_id"]})
            for name, options in fieldsets
        ]

    @admin.action(description="Send to maintenance", permissions=["change"])
    def send_to_maintenance(self, request, queryset):
        self.apply_to_each(
            request,
            queryset,
            lambda vehicle: services.set_vehicle_status(
                vehicle, by=request.user, status=VehicleStatus.MAINTENANCE, reason="sent to maintenance"
            ),
            done="Sent to maintenance",
        )

    @admin.action(description="Return to service", permissions=["change"])
    def return_to_service(self, request, queryset):
        self.apply_to_each(
            request,
            queryset,
            lambda vehicle: services.set_vehicle_status(
                vehicle, by=request.user, status=VehicleStatus.AVAILABLE, reason="returned to service"
            ),
            done="Returned to service",
        )
