"""`manage.py kafka_topics`: creates the TMS topics and shows them."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Creates every topic of the event taxonomy and tms.dlq that does not exist yet "
        "(KAFKA_TOPIC_PARTITIONS, KAFKA_REPLICATION_FACTOR), then prints them with end offsets and "
        "consumer-group lag. --describe only prints."
    )

    def add_arguments(self, parser):
        parser.add_argument("--describe", action="store_true", help="print the topics, create nothing")
        parser.add_argument("--bootstrap-servers", default="", help="default: KAFKA_BOOTSTRAP_SERVERS")
        parser.add_argument("--partitions", type=int, default=None, help="default: KAFKA_TOPIC_PARTITIONS")
        parser.add_argument(
            "--replication-factor", type=int, default=None, help="default: KAFKA_REPLICATION_FACTOR"
        )

    def handle(
        self, *args, describe, bootstrap_servers, partitions, replication_factor, verbosity, **options
    ):
        servers = bootstrap_servers or settings.KAFKA_BOOTSTRAP_SERVERS
        if not servers:
            raise CommandError("KAFKA_BOOTSTRAP_SERVERS is not set (or pass --bootstrap-servers)")
        if verbosity < 2:
            logging.getLogger("kafka").setLevel(logging.WARNING)
        from events import kafka

        status = {}
        if not describe:
            status = kafka.ensure_topics(
                servers, partitions=partitions, replication_factor=replication_factor
            )
        rows = [
            [
                topic["topic"],
                str(topic["partitions"]),
                str(topic["end_offsets"]),
                status.get(topic["topic"], "-"),
                ", ".join(f"{group}={lag}" for group, lag in sorted(topic["lag"].items())) or "-",
            ]
            for topic in kafka.describe_topics(servers)
        ]
        if not rows:
            self.stdout.write("no TMS topics yet: run without --describe to create them")
            return
        header = ["TOPIC", "PARTITIONS", "END OFFSETS", "STATUS" if status else "", "LAG BY GROUP"]
        if not status:
            header.pop(3)
            rows = [row[:3] + row[4:] for row in rows]
        widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
        for line in [header, *rows]:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            )
