import signal

from django.core.management.base import BaseCommand

from fleet import tracking


class Command(BaseCommand):
    help = "Publishes VEHICLE_LOCATION_UPDATED for the fixes stored by batches (Kafka or in-process)."

    def handle(self, *args, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        tracking.run_relay_forever(stop=lambda: stopping)
