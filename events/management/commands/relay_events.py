"""`manage.py relay_events`: the outbox relay as a long-running process (or `--once`)."""

import logging

from django.core.management.base import BaseCommand

from events import relay
from tms.process import stop_on_signals


class Command(BaseCommand):
    help = (
        "Relays committed outbox events, in order, to Kafka (KAFKA_BOOTSTRAP_SERVERS) or to the "
        "in-process consumers; runs until SIGTERM/Ctrl-C, backing off while the broker is down."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="relay what is pending, print the count, exit"
        )
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=1.0,
            help="seconds between outbox polls when idle; a commit wakes the relay at once (NOTIFY)",
        )

    def handle(self, *args, once: bool, poll_interval: float, verbosity: int, **options):
        if verbosity < 2:
            logging.getLogger("kafka").setLevel(logging.WARNING)
        transport = relay.default_transport()
        if once:
            count = relay.relay_pending(transport)
            self.stdout.write(f"relayed {count} event{'s' if count != 1 else ''} via {transport.name}")
            return
        stopping = stop_on_signals()
        self.stdout.write(
            f"relaying the outbox via {transport.name} (woken by each commit, else every {poll_interval}s); "
            "Ctrl-C stops"
        )
        relay.run_forever(poll_interval_s=poll_interval, transport=transport, stop=stopping)
        self.stdout.write(f"stopped; backlog: {relay.backlog()}")
