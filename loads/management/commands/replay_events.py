"""Rebuilds loads from their events and reports where the table differs (event sourcing check),
or replays stored events into a consumer (a new projection)."""

import json
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from events.consumers import REGISTRY, deliver
from events.models import StoredEvent
from loads.models import Load
from loads.projection import BOOKING_FIELDS, PROJECTED_FIELDS, PROJECTED_STOP_FIELDS, fold_load


def _canonical(value: Any) -> Any:
    """One form for a value whether it came from JSON or from the table."""
    if value is None or value == "":
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and (parsed := parse_datetime(value)) is not None:
        return parsed
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value


def differences(load: Load, state: dict[str, Any]) -> dict[str, list[Any]]:
    found = {}
    for field in PROJECTED_FIELDS + [name for name in BOOKING_FIELDS if name in state]:
        actual = getattr(load, field)
        projected = state.get(field)
        if _canonical(actual) != _canonical(projected):
            found[field] = [projected, actual]
    stops = stop_differences(load, state.get("stops", []))
    if stops:
        found["stops"] = stops
    return found


def stop_differences(load: Load, projected: list[dict[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """Per stop (by sequence), the fields where the table differs from the events. A load booked
    before stops were evented has stops without ids in its events: those compare without the id."""
    actual = [
        {"stop_id": stop.pk, "facility_id": stop.facility_id, **{f: getattr(stop, f) for f in _STOP_COLUMNS}}
        for stop in load.stops.order_by("sequence")
    ]
    found: dict[str, dict[str, list[Any]]] = {}
    for index in range(max(len(actual), len(projected))):
        row = actual[index] if index < len(actual) else {}
        event = projected[index] if index < len(projected) else {}
        fields = [f for f in PROJECTED_STOP_FIELDS if f in event or not event]
        if event and event.get("stop_id") is None:
            fields = [f for f in fields if f != "stop_id"]
        diff = {
            field: [event.get(field), row.get(field)]
            for field in fields
            if _canonical(row.get(field)) != _canonical(event.get(field))
        }
        if diff:
            found[str(index + 1)] = diff
    return found


_STOP_COLUMNS = [f for f in PROJECTED_STOP_FIELDS if f not in ("stop_id", "facility_id")]


class Command(BaseCommand):
    help = (
        "Rebuild loads from the event store and report differences from the loads table, "
        "or replay stored events into a consumer."
    )

    def add_arguments(self, parser):
        parser.add_argument("--aggregate", help="a load id")
        parser.add_argument("--since", help="ISO time: every load with events since then")
        parser.add_argument("--consumer", help="replay the selected events into this consumer instead")

    def handle(self, *args, aggregate=None, since=None, consumer=None, **options):
        events = StoredEvent.objects.using(settings.TIMESERIES_DATABASE_ALIAS).order_by("time", "event_id")
        if aggregate:
            try:
                uuid.UUID(aggregate)
            except ValueError as error:
                raise CommandError(f"--aggregate must be a load id (UUID), got {aggregate!r}") from error
            events = events.filter(subject=aggregate)
        if since:
            start = parse_datetime(since)
            if start is None:
                raise CommandError(f"--since must be an ISO time, got {since!r}")
            events = events.filter(time__gte=start)
        if not aggregate and not since:
            raise CommandError("give --aggregate LOAD_ID and/or --since TIME")
        if consumer:
            return self._replay_into(consumer, events)
        events = events.filter(Q(type__startswith="LOAD_") | Q(type__startswith="STOP_"))
        subjects = list(dict.fromkeys(events.values_list("subject", flat=True)))
        if aggregate and not subjects:
            raise CommandError(f"no events for load {aggregate}")
        report = []
        for subject in subjects:
            history = [e.envelope for e in events.filter(subject=subject)]
            state = fold_load(history)
            load = Load.objects.filter(pk=subject).first()
            diff = {"missing": True} if load is None else differences(load, state)
            report.append({"load_id": subject, "events": len(history), "differences": diff})
        self.stdout.write(json.dumps({"loads": report}, indent=2, default=str))
        if any(entry["differences"] for entry in report):
            raise CommandError("the table differs from the events", returncode=1)

    def _replay_into(self, name: str, events) -> None:
        if name not in REGISTRY:
            raise CommandError(f"unknown consumer {name!r}; known: {', '.join(sorted(REGISTRY))}")
        outcomes: dict[str, int] = {}
        for stored in events.iterator():
            outcome = deliver(REGISTRY[name], stored.envelope)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        self.stdout.write(json.dumps({"consumer": name, "outcomes": outcomes}))
