"""manage.py gps_odometer: brings the GPS odometer's marks up to date now (fleet.odometer.refresh),
as Celery beat does every minute: the backfill after fixes were loaded around ingest."""

import time

from django.core.management.base import BaseCommand

from fleet import odometer


class Command(BaseCommand):
    help = "Marks the GPS odometer through every settled hour and rebuilds the stale marks."

    def handle(self, *args, **options):
        began = time.monotonic()
        written = odometer.refresh()
        if written is None:
            self.stdout.write("gps_odometer: another refresh is running; nothing done")
            return
        self.stdout.write(f"gps_odometer: {written:,} marks written in {time.monotonic() - began:.1f} s")
