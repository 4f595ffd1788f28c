"""Trigram indexes for the admin's load search (loads.admin.LoadAdmin.get_search_results): GIN on
UPPER(field), as Django's icontains reads it (UPPER(field::text) LIKE UPPER('%term%')). pg_trgm
ships with PostgreSQL and is a trusted extension: the database owner creates it.

By SQL: Django's OpClass over an expression writes `(UPPER("field") gin_trgm_ops)`, which
PostgreSQL refuses."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

FIELDS = (
    "load_number",
    "commodity",
    "pickup_address",
    "delivery_address",
    "po_number",
    "bol_number",
    "customer_reference",
)


class Migration(migrations.Migration):
    dependencies = [
        ("loads", "0009_customers_and_references"),
    ]

    operations = [
        TrigramExtension(),
        *(
            migrations.RunSQL(
                f'CREATE INDEX "loads_{field}_trgm" ON "loads" USING gin ((UPPER("{field}"::text)) gin_trgm_ops)',
                f'DROP INDEX "loads_{field}_trgm"',
            )
            for field in FIELDS
        ),
    ]
