"""Drivers in the back office; every write goes through drivers.services."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils import timezone

from drivers import selectors, services
from drivers.admin_eld import eld_urls
from drivers.models import Driver, DriverStatus
from fleet.admin import RECORD_FIELDS, CarrierAdmin, KeepsCarrierOnLoadForm
from tms.admin import ReadOnlyInline, ServiceModelAdmin
from tms.api_defaults import DRIVER


class DriverInline(ReadOnlyInline):
    model = Driver
    fields = ["employee_number", "name", "status", "is_active", "license_class", "license_expiry"]


# fleet does not import drivers (dependency direction), so the carrier page gets its drivers here.
CarrierAdmin.inlines = [*CarrierAdmin.inlines, DriverInline]


class DriverForm(KeepsCarrierOnLoadForm):
    asset = "driver"

    class Meta:
        model = Driver
        fields = "__all__"


class LicenseExpiredFilter(admin.SimpleListFilter):
    title = "licence"
    parameter_name = "licence"

    def lookups(self, request, model_admin):
        return [("valid", "Valid"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "valid":
            return queryset.filter(license_expiry__gte=today)
        if self.value() == "expired":
            return queryset.filter(license_expiry__lt=today)
        return queryset


@admin.register(Driver)
class DriverAdmin(ServiceModelAdmin):
    form = DriverForm
    list_display = [
        "name",
        "employee_number",
        "carrier",
        "status",
        "is_active",
        "hours_remaining",
        "license_class",
        "license_state",
        "license_expiry",
        "licence_valid",
        "user",
    ]
    list_filter = ["status", "is_active", LicenseExpiredFilter, "license_class", "carrier", "license_state"]
    search_fields = ["employee_number", "name", "license_number", "email", "phone"]
    list_select_related = ["carrier", "user"]
    autocomplete_fields = ["carrier"]
    readonly_fields = ["status", "hours_remaining", "location_updated_at", *RECORD_FIELDS]
    fieldsets = [
        (None, {"fields": ["employee_number", "name", "carrier", "user", "is_active"]}),
        ("Contact", {"fields": ["phone", "email"]}),
        ("Licence", {"fields": ["license_number", "license_state", "license_class", "license_expiry"]}),
        ("Hours of service", {"fields": ["hos_cycle", "short_haul_exception", "home_terminal_timezone"]}),
        ("Status", {"fields": ["status", "hours_remaining"]}),
        ("Position", {"fields": ["current_location", "location_updated_at"]}),
        ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    ]
    actions = ["set_available", "set_off_duty"]
    create_service = services.create_driver
    update_service = services.update_driver
    delete_service = services.delete_driver
    location_service = services.update_driver_location

    def get_changelist_instance(self, request):
        """The page's drivers get their hours from their logs in one query (see hours_remaining)."""
        changelist = super().get_changelist_instance(request)
        drivers = list(changelist.result_list)  # evaluated once: the template shows these objects
        hours = selectors.hours_remaining(drivers, timezone.now())
        for driver in drivers:
            driver.hours_remaining_now = hours[driver.pk]
        return changelist

    @admin.display(description="hours remaining")
    def hours_remaining(self, driver: Driver) -> str:
        """Driving the driver may legally do from now before the next 10-hour break, from the log
        (as GET /api/drivers/{id}/hos gives it in legal_driving_h)."""
        hours = getattr(driver, "hours_remaining_now", None)
        if hours is None and driver.pk is not None:
            hours = selectors.hours_remaining([driver], timezone.now())[driver.pk]
        return "-" if hours is None else f"{hours:.2f}"

    @admin.display(description="licence valid", boolean=True)
    def licence_valid(self, driver: Driver) -> bool:
        return driver.license_expiry >= timezone.localdate()

    def get_urls(self):
        # Before the defaults: their "<path:object_id>/" would swallow "<id>/eld/".
        return eld_urls(self) + super().get_urls()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # The login a driver uses is a DRIVER-role account; dispatchers need not see the rest.
            kwargs["queryset"] = get_user_model().objects.filter(groups__name=DRIVER).order_by("username")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.action(description="Set available", permissions=["change"])
    def set_available(self, request, queryset):
        self.apply_to_each(
            request,
            queryset,
            lambda driver: services.report_driver_status(
                driver, by=request.user, status=DriverStatus.AVAILABLE, reason="set available"
            ),
            done="Available",
        )

    @admin.action(description="Set off duty", permissions=["change"])
    def set_off_duty(self, request, queryset):
        self.apply_to_each(
            request,
            queryset,
            lambda driver: services.report_driver_status(
                driver, by=request.user, status=DriverStatus.OFF_DUTY, reason="set off duty"
            ),
            done="Off duty",
        )
