"""`manage.py consume NAME`: one registered consumer as a Kafka consumer group."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from events.consumers import REGISTRY
from tms.process import stop_on_signals


class Command(BaseCommand):
    help = (
        "Runs the registered consumer NAME as the Kafka consumer group NAME on its topics, until "
        "SIGTERM/Ctrl-C. --list shows the registered consumers."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="a registered consumer (see --list)")
        parser.add_argument(
            "--list",
            dest="list_consumers",
            action="store_true",
            help="list the registered consumers and their topics",
        )
        parser.add_argument(
            "--bootstrap-servers",
            default="",
            help="default: KAFKA_BOOTSTRAP_SERVERS (required one way or the other)",
        )
        parser.add_argument("--session-timeout-ms", type=int, default=10_000)
        parser.add_argument("--heartbeat-interval-ms", type=int, default=1_000)
        parser.add_argument(
            "--fetch-max-wait-ms",
            type=int,
            default=25,
            help="longest a fetch waits for records (Tansu always waits this long)",
        )
        parser.add_argument(
            "--from",
            dest="auto_offset_reset",
            choices=["earliest", "latest"],
            default="earliest",
            help="where a group without committed offsets starts (default: earliest)",
        )

    def handle(self, *args, name, list_consumers, bootstrap_servers, verbosity, **options):
        if list_consumers:
            width = max((len(n) for n in REGISTRY), default=4)
            for consumer in REGISTRY.values():
                types = ", ".join(sorted(consumer.event_types)) or "every type"
                self.stdout.write(f"{consumer.name:<{width}}  {', '.join(consumer.topics)}  ({types})")
            return
        if not name:
            raise CommandError("name a consumer, or use --list")
        if name not in REGISTRY:
            known = ", ".join(sorted(REGISTRY)) or "none"
            raise CommandError(f"unknown consumer {name!r}; registered: {known}")
        servers = bootstrap_servers or settings.KAFKA_BOOTSTRAP_SERVERS
        if not servers:
            raise CommandError(
                "KAFKA_BOOTSTRAP_SERVERS is not set: without Kafka the relay hands events to the "
                "consumers in-process, and there is nothing to run here"
            )
        if verbosity < 2:
            logging.getLogger("kafka").setLevel(logging.WARNING)
        from events.kafka import run_consumer

        stopping = stop_on_signals()
        self.stdout.write(
            f"consumer {name}: group {name} on {', '.join(REGISTRY[name].topics)}; Ctrl-C stops"
        )
        outcomes = run_consumer(
            name,
            stop=stopping,
            bootstrap_servers=servers,
            session_timeout_ms=options["session_timeout_ms"],
            heartbeat_interval_ms=options["heartbeat_interval_ms"],
            auto_offset_reset=options["auto_offset_reset"],
            fetch_max_wait_ms=options["fetch_max_wait_ms"],
        )
        summary = (
            ", ".join(f"{outcome} {count}" for outcome, count in sorted(outcomes.items())) or "no events"
        )
        self.stdout.write(f"consumer {name} stopped: {summary}")
