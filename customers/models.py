from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from tms.models import BaseEntity


class Customer(BaseEntity):
    """A party freight is moved for: it ships, receives or pays (the bill-to on a load), or several
    of these. Its sites are facilities (`facility.customer`); a load names who pays as its
    `customer` and keeps its seed shipper and consignee facilities."""

    name = models.CharField(max_length=200)
    code = models.CharField(
        max_length=32, unique=True, help_text="Short account code (e.g. ACME), unique, as on invoices."
    )
    is_shipper = models.BooleanField(default=False, help_text="Tenders freight picked up at its sites.")
    is_consignee = models.BooleanField(default=False, help_text="Receives freight at its sites.")
    is_bill_to = models.BooleanField(default=True, help_text="Pays for loads (the load's customer).")
    contact_name = models.CharField(max_length=100, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    billing_email = models.EmailField(blank=True, help_text="Where invoices go.")
    billing_address = models.CharField(max_length=255, blank=True)
    billing_city = models.CharField(max_length=100, blank=True)
    billing_state = models.CharField(max_length=2, blank=True)
    billing_postal_code = models.CharField(max_length=10, blank=True)
    billing_country = models.CharField(max_length=2, default="US")
    reference = models.CharField(
        max_length=64, blank=True, help_text="Our account number in the customer's systems (vendor id)."
    )
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive customers cannot be given new loads.")

    class Meta:
        db_table = "customers"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="customers_name_not_blank"),
            models.CheckConstraint(condition=~Q(code=""), name="customers_code_not_blank"),
            models.UniqueConstraint(
                Upper("code"),
                name="customers_code_unique_any_case",
                violation_error_message="A customer with this code already exists.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"
