from django.core.management.base import BaseCommand

from fleet import relay
from tms.process import stop_on_signals


class Command(BaseCommand):
    help = "Publishes VEHICLE_LOCATION_UPDATED for the fixes stored by batches (Kafka or in-process)."

    def handle(self, *args, **options):
        stopping = stop_on_signals()
        relay.run_forever(stop=stopping)
