"""The analytics events: a carrier's delivery record after each of its deliveries."""

from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import transaction

from analytics import selectors
from events.outbox import emit
from events.taxonomy import EventType


@transaction.atomic
def publish_carrier_performance(*, carrier_id: UUID, until: datetime) -> dict:
    """CARRIER_PERFORMANCE_UPDATED: the carrier's loads delivered and on-time delivery rate over the
    TMS_CARRIER_PERFORMANCE_WINDOW_DAYS up to `until` (a delivery's time), as the dashboard counts
    them. It changes no row, so it has no audit row: the event is the record."""
    figures = selectors.carrier_performance(
        carrier_id, until=until, days=settings.TMS_CARRIER_PERFORMANCE_WINDOW_DAYS
    )
    data = {"carrier_id": carrier_id, **figures}
    emit(EventType.CARRIER_PERFORMANCE_UPDATED, subject=carrier_id, data=data)
    return data
