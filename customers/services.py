"""Every change to customers: validated, audited and evented in one transaction."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from customers.models import Customer
from events import audit
from events.outbox import emit
from events.taxonomy import EventType

Actor = AbstractBaseUser | None


def _event_data(customer: Customer, **extra: Any) -> dict[str, Any]:
    return {
        "customer_id": customer.pk,
        "code": customer.code,
        "name": customer.name,
        "is_shipper": customer.is_shipper,
        "is_consignee": customer.is_consignee,
        "is_bill_to": customer.is_bill_to,
        "is_active": customer.is_active,
        **extra,
    }


@transaction.atomic
def create_customer(*, by: Actor, **fields: Any) -> Customer:
    """Adds a customer; its code is unique whatever the letter case (ACME and acme are one)."""
    customer = audit.audited_create(Customer, by=by, **fields)
    emit(EventType.CUSTOMER_CREATED, subject=customer.pk, data=_event_data(customer))
    return customer


@transaction.atomic
def update_customer(customer: Customer, *, by: Actor, **fields: Any) -> Customer:
    """Edits a customer (deactivating one keeps its loads; new loads cannot name it). An edit that
    changes nothing writes nothing and emits nothing."""
    changes = audit.audited_update(customer, by=by, **fields)
    if changes:
        emit(
            EventType.CUSTOMER_UPDATED,
            subject=customer.pk,
            data=_event_data(customer, changes=changes),
        )
    return customer


@transaction.atomic
def delete_customer(customer: Customer, *, by: Actor) -> None:
    """Deletes a customer no load or facility refers to (those protect it: 409; deactivate it
    instead)."""
    data = _event_data(customer)
    audit.audited_delete(customer, by=by)
    emit(EventType.CUSTOMER_DELETED, subject=customer.pk, data=data)
