"""`manage.py send_webhooks`: the webhook sender as a long-running process (or `--once`)."""

from django.core.management.base import BaseCommand

from tms.process import stop_on_signals
from webhooks import sender


class Command(BaseCommand):
    help = (
        "Sends due webhook deliveries (signed, retried with backoff) with WEBHOOKS_SENDER_THREADS "
        "threads; woken by the webhooks consumer's commits, else polls. Runs until SIGTERM/Ctrl-C."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="send what is due now, print the count, exit")
        parser.add_argument(
            "--poll-interval", type=float, default=1.0, help="seconds between polls when nothing is due"
        )

    def handle(self, *args, once: bool, poll_interval: float, **options):
        if once:
            count = sender.send_due_deliveries()
            self.stdout.write(f"sent {count} deliver{'ies' if count != 1 else 'y'}")
            return
        stopping = stop_on_signals()
        self.stdout.write(f"sending webhook deliveries (woken by the consumer, else every {poll_interval}s)")
        sender.run_forever(poll_interval_s=poll_interval, stop=stopping)
        self.stdout.write("stopped")
