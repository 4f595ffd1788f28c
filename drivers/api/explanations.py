"""The hours-of-service clock as dispatch reads it: each number with the sentence that explains it.

What GET /api/drivers/{id}/hos returns (rendered by `HosClockOutput`) and the ELD admin page shows.
The numbers come from drivers.selectors; the sentences are written here.
"""

from datetime import datetime, timedelta
from typing import Any

from drivers import hos, selectors
from drivers.models import Driver
from drivers.planning import DrivingPlan, hours, limit_name


def hos_report(driver: Driver, *, at: datetime, start: datetime, end: datetime) -> dict[str, Any]:
    """The driver's full clock at `at`, what they may drive from then, and the violations in
    [start, end], with a sentence explaining each number."""
    clock, plan = selectors.clock_and_plan(driver, at)
    rules = selectors.rule_set(driver)
    violations = selectors.violations_between(driver, start, end)
    texts = clock.explanations
    if clock.in_violation:
        rule = next((v.rule for v in reversed(clock.violations) if v.end == clock.at), None)
        in_violation = f"Driving past a limit ({rule}) at {clock.at:%Y-%m-%d %H:%M}"
    else:
        in_violation = f"Not driving past any limit at {clock.at:%Y-%m-%d %H:%M}"
    return {
        "driver_id": driver.pk,
        "at": clock.at,
        "time_zone": driver.home_terminal_timezone,
        "cycle": rules.cycle,
        "short_haul_exception": rules.short_haul_exception,
        "drive_remaining_h": hours(clock.drive_remaining),
        "window_remaining_h": hours(clock.window_remaining),
        "window_end": clock.window_end,
        "break_required_in_h": None if clock.break_required_in is None else hours(clock.break_required_in),
        "cycle_remaining_h": hours(clock.cycle_remaining),
        "cycle_used_h": round(clock.cycle_hours_used.total_seconds() / 3600, 2),
        "restart_completed_at": clock.restart_completed_at,
        "in_violation": clock.in_violation,
        "legal_driving_h": plan.hours,
        "binding_limit": plan.binding,
        "violations_start": start,
        "violations_end": end,
        "violations": [
            {"rule": v.rule, "start": v.start, "end": v.end, "message": v.message} for v in violations
        ],
        "explanations": {
            "drive_remaining_h": texts["drive_remaining"],
            "window_remaining_h": texts["window_remaining"],
            "window_end": texts["window_remaining"],
            "break_required_in_h": texts["break_required_in"],
            "cycle_remaining_h": texts["cycle_remaining"],
            "cycle_used_h": texts["cycle_remaining"],
            "restart_completed_at": texts.get(
                "restart_completed_at",
                "No 34-hour off-duty period in the log read (the last 8 days and 34 hours): no restart",
            ),
            "in_violation": in_violation,
            "legal_driving_h": plan_explanation(plan, rules),
        },
    }


def plan_explanation(plan: DrivingPlan, rules: hos.RuleSet) -> str:
    """One sentence for a dispatcher: how much, until what, with which breaks."""
    text = f"{_hours_text(plan.driving)} h of driving from {plan.start:%Y-%m-%d %H:%M}"
    if plan.breaks:
        times = ", ".join(f"{moment:%H:%M}" for moment in plan.breaks)
        text += f" with a 30-minute break at {times}"
    if plan.binding is None:
        return f"{text}: enough for the {_hours_text(plan.needed or timedelta(0))} h needed"
    return f"{text}, then {limit_name(plan.binding, rules)} stops the driving"


def _hours_text(value: timedelta) -> str:
    return f"{hours(value):.2f}".rstrip("0").rstrip(".")
