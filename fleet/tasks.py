"""Celery tasks of the fleet app: thin, each calls one service."""

from celery import shared_task

from fleet import odometer


@shared_task(ignore_result=True)
def refresh_gps_odometer_task() -> int | None:
    """Celery beat, every minute: the GPS odometer's marks through the settled hours, and the
    stale ones rebuilt (fleet.odometer.refresh)."""
    return odometer.refresh()
