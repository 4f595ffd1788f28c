"""Customers in the back office; writes go through customers.services."""

from django.contrib import admin
from django.db.models import Count

from customers import services
from customers.models import Customer
from fleet.admin import RECORD_FIELDS
from tms.admin import ServiceModelAdmin


@admin.register(Customer)
class CustomerAdmin(ServiceModelAdmin):
    list_display = ["name", "code", "is_shipper", "is_consignee", "is_bill_to", "is_active", "load_count"]
    list_filter = ["is_active", "is_shipper", "is_consignee", "is_bill_to", "billing_state"]
    search_fields = ["name", "code", "reference", "billing_city"]
    readonly_fields = RECORD_FIELDS
    fieldsets = [
        (None, {"fields": ["name", "code", "is_active"]}),
        ("Roles", {"fields": ["is_shipper", "is_consignee", "is_bill_to"]}),
        ("Contact", {"fields": ["contact_name", "contact_email", "contact_phone"]}),
        (
            "Billing",
            {
                "fields": [
                    "billing_email",
                    "billing_address",
                    "billing_city",
                    "billing_state",
                    "billing_postal_code",
                    "billing_country",
                    "reference",
                ]
            },
        ),
        ("Notes", {"fields": ["notes"]}),
        ("Record", {"fields": RECORD_FIELDS, "classes": ["collapse"]}),
    ]
    create_service = services.create_customer
    update_service = services.update_customer
    delete_service = services.delete_customer

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(load_count=Count("loads"))

    @admin.display(description="loads", ordering="load_count")
    def load_count(self, customer: Customer) -> int:
        return customer.load_count
