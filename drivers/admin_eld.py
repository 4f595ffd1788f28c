"""A driver's log in the back office as the familiar ELD graph (49 CFR 395.8(g)).

One 24-hour grid per day of the home terminal's time zone, for the 8 days a roadside inspector
looks at: rows OFF, SB, D, ON, a horizontal line for each duty status, vertical connectors
between them, the total per row at the right, violations in red and listed below with their rule.
Inline SVG drawn on the server (no script, no CDN).

Wired by DriverAdmin.get_urls with `eld_urls(self)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from drivers import hos, selectors
from drivers.api.explanations import hos_report
from drivers.models import Driver, DutyStatus

DAYS = 8
HOUR_WIDTH = 36  # px per hour
ROW_HEIGHT = 22
LEFT = 44  # room for the row labels
RIGHT = 70  # room for the totals
TOP = 18  # room for the hour labels
ROWS = [
    (DutyStatus.OFF_DUTY, "OFF"),
    (DutyStatus.SLEEPER_BERTH, "SB"),
    (DutyStatus.DRIVING, "D"),
    (DutyStatus.ON_DUTY, "ON"),
]
ROW_OF = {status: index for index, (status, _) in enumerate(ROWS)}


@dataclass(frozen=True)
class _Piece:
    status: str
    start: datetime
    end: datetime


def _clock(value: timedelta) -> str:
    minutes = round(value.total_seconds() / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _pieces(segments: list[hos.Segment], start: datetime, end: datetime) -> list[_Piece]:
    """The log between `start` and `end` as contiguous pieces; gaps are off duty, as the engine
    reads them."""
    pieces: list[_Piece] = []
    cursor = start

    def add(status: str, piece_start: datetime, piece_end: datetime) -> None:
        if piece_end <= piece_start:
            return
        if pieces and pieces[-1].status == status and pieces[-1].end == piece_start:
            pieces[-1] = _Piece(status, pieces[-1].start, piece_end)
        else:
            pieces.append(_Piece(status, piece_start, piece_end))

    for segment in segments:
        if segment.end <= start or segment.start >= end:
            continue
        piece_start, piece_end = max(segment.start, start), min(segment.end, end)
        add(DutyStatus.OFF_DUTY, cursor, piece_start)
        add(str(segment.status), piece_start, piece_end)
        cursor = max(cursor, piece_end)
    add(DutyStatus.OFF_DUTY, cursor, end)
    return pieces


def _day_grid(
    day: date, zone, segments: list[hos.Segment], violations: list[hos.Violation], now: datetime
) -> dict:
    day_start = datetime.combine(day, time(0), tzinfo=zone)
    day_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    day_hours = round((day_end - day_start).total_seconds() / 3600)  # 23 or 25 on DST changes
    visible_end = min(day_end, now)
    width = day_hours * HOUR_WIDTH

    def x(moment: datetime) -> float:
        return round(LEFT + (moment - day_start).total_seconds() / 3600 * HOUR_WIDTH, 2)

    def y(status: str) -> float:
        return TOP + ROW_OF[status] * ROW_HEIGHT + ROW_HEIGHT / 2

    pieces = _pieces(segments, day_start, visible_end) if visible_end > day_start else []
    lines, connectors = [], []
    totals = dict.fromkeys((status for status, _ in ROWS), timedelta(0))
    for index, piece in enumerate(pieces):
        totals[piece.status] += piece.end - piece.start
        lines.append(
            {
                "status": piece.status,
                "x1": x(piece.start),
                "x2": x(piece.end),
                "y": y(piece.status),
                "title": f"{piece.status} {piece.start.astimezone(zone):%H:%M}-"
                f"{piece.end.astimezone(zone):%H:%M}",
            }
        )
        if index and pieces[index - 1].status != piece.status:
            connectors.append({"x": x(piece.start), "y1": y(pieces[index - 1].status), "y2": y(piece.status)})
    marks = []
    for violation in violations:
        start, end = max(violation.start, day_start), min(violation.end, day_end)
        if end > start:
            marks.append(
                {
                    "rule": violation.rule,
                    "x1": x(start),
                    "x2": x(end),
                    "width": round(x(end) - x(start), 2),
                    "y": y(DutyStatus.DRIVING),
                }
            )
    ticks = []
    for hour in range(day_hours + 1):
        local = (day_start + timedelta(hours=hour)).astimezone(zone)
        label = {0: "M", 12: "N"}.get(local.hour, str(local.hour % 12))
        ticks.append({"x": LEFT + hour * HOUR_WIDTH, "label": label})
    rows = [
        {
            "label": label,
            "y": TOP + index * ROW_HEIGHT,
            "text_y": y(status) + 4,
            "total": _clock(totals[status]),
        }
        for index, (status, label) in enumerate(ROWS)
    ]
    return {
        "day": day,
        "width": LEFT + width + RIGHT,
        "height": TOP + len(ROWS) * ROW_HEIGHT + 18,
        "grid_width": width,
        "grid_height": len(ROWS) * ROW_HEIGHT,
        "grid_bottom": TOP + len(ROWS) * ROW_HEIGHT,
        "total_x": LEFT + width + 8,
        "sum_y": TOP + len(ROWS) * ROW_HEIGHT + 14,
        "total": _clock(sum(totals.values(), timedelta(0))),
        "ticks": ticks,
        "rows": rows,
        "lines": lines,
        "connectors": connectors,
        "violations": marks,
    }


def driver_log_view(request: HttpRequest, driver_id: UUID, day: str | None = None) -> HttpResponse:
    """The 8 days of a driver's log ending on `day` (default today at the home terminal)."""
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied
    driver = get_object_or_404(Driver, pk=driver_id)
    zone = selectors.home_zone(driver)
    now = timezone.now()
    today = now.astimezone(zone).date()
    if day is None:
        last_day = today
    else:
        try:
            last_day = date.fromisoformat(day)
        except ValueError:
            raise Http404("The day must be YYYY-MM-DD.") from None
    first_day = last_day - timedelta(days=DAYS - 1)
    range_start = datetime.combine(first_day, time(0), tzinfo=zone)
    range_end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone)
    until = min(range_end, now)
    segments = (
        selectors.driver_segments(driver, since=range_start, until=until) if until > range_start else []
    )
    violations = selectors.violations_between(driver, range_start, until) if until > range_start else []
    days = [
        _day_grid(first_day + timedelta(days=offset), zone, segments, violations, now)
        for offset in reversed(range(DAYS))
    ]
    clock_at = max(range_start, until)
    report = hos_report(driver, at=clock_at, start=range_start, end=clock_at)
    context = {
        **admin.site.each_context(request),
        "title": f"ELD log: {driver.name}",
        "opts": Driver._meta,
        "driver": driver,
        "zone": driver.home_terminal_timezone,
        "days": days,
        "violations": [
            {
                "rule": violation.rule,
                "start": violation.start.astimezone(zone),
                "end": violation.end.astimezone(zone),
                "message": violation.message,
            }
            for violation in violations
        ],
        "report": report,
        "first_day": first_day,
        "last_day": last_day,
        "base_url": _eld_base(request.path),
        "previous_day": (first_day - timedelta(days=1)).isoformat(),
        "next_day": min(last_day + timedelta(days=DAYS), today).isoformat() if last_day < today else None,
    }
    return TemplateResponse(request, "admin/drivers/driver/eld.html", context)


def _eld_base(url_path: str) -> str:
    """`/admin/drivers/driver/<id>/eld/` from this page's path, with or without a day in it."""
    cut = url_path.rfind("/eld/")
    return url_path[: cut + len("/eld/")] if cut >= 0 else url_path


def eld_urls(model_admin: admin.ModelAdmin) -> list:
    """URL patterns for DriverAdmin.get_urls, placed before the default ones (whose
    `<path:object_id>/` would take them): `<driver id>/eld/` and `<driver id>/eld/<YYYY-MM-DD>/`."""

    def view(request: HttpRequest, driver_id: UUID, day: str | None = None) -> HttpResponse:
        if not model_admin.has_view_permission(request):
            raise PermissionDenied
        return driver_log_view(request, driver_id, day)

    wrapped = model_admin.admin_site.admin_view(view)
    info = (model_admin.opts.app_label, model_admin.opts.model_name)
    return [
        path("<uuid:driver_id>/eld/", wrapped, name="{}_{}_eld".format(*info)),
        path("<uuid:driver_id>/eld/<str:day>/", wrapped, name="{}_{}_eld_day".format(*info)),
    ]
