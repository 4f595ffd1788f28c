"""One time format on the wire: RFC 3339 in UTC with `Z` (`2026-11-25T08:30:00.123456Z`), as DRF
renders its DateTimeFields. API bodies, event envelopes and payloads and WebSocket messages use it;
`datetime.isoformat()` of an aware UTC time would give `+00:00` instead."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def rfc3339(moment: datetime) -> str:
    """`moment` (timezone-aware) in UTC, with `Z`; microseconds only when it has some, as DRF."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: times on the wire carry their zone")
    return moment.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"


def local_time(moment: datetime | None, zone: str) -> str:
    """`moment` as a dispatcher at a facility reads it: wall-clock time in the IANA `zone`, with the
    zone's abbreviation (`2026-12-07 08:00 CST`); "" for no time. The back office shows every
    facility time this way, never bare UTC."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def wall_clock_instant(wall_clock: datetime, zone: str) -> datetime | None:
    """The instant a wall-clock time (naive) names in the IANA `zone`, as a dispatcher types an
    appointment at a facility; None for a time the zone skips (clocks going forward). A time the
    zone repeats (clocks going back) is its first occurrence."""
    if wall_clock.tzinfo is not None:
        raise ValueError(f"{wall_clock!r} already has a zone")
    tz = ZoneInfo(zone)
    instant = wall_clock.replace(tzinfo=tz, fold=0)
    if instant.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall_clock:
        return None
    return instant.astimezone(UTC)
