from django.conf import settings
from django.contrib.gis.db import models
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Q

from drivers.models import Driver
from fleet.models import Vehicle
from loads.models import Load
from tms.models import BaseEntity, choices_constraint


class RouteProvider(models.TextChoices):
    GOOGLE_MAPS = "GOOGLE_MAPS"
    GREAT_CIRCLE = "GREAT_CIRCLE"
    OR_TOOLS = "OR_TOOLS"


class Route(BaseEntity):
    """A planned path for a load on a vehicle. Re-optimisation adds a route and keeps the old ones."""

    load = models.ForeignKey(Load, on_delete=models.CASCADE, related_name="routes")
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="routes")
    # A driver change keeps the route: the driver is not part of the path.
    driver = models.ForeignKey(
        Driver, null=True, blank=True, on_delete=models.SET_NULL, related_name="routes"
    )
    origin = models.PointField(geography=True)
    destination = models.PointField(geography=True)
    path = models.LineStringField(srid=4326)
    distance_m = models.PositiveIntegerField()
    duration_s = models.PositiveIntegerField()
    duration_in_traffic_s = models.PositiveIntegerField(null=True, blank=True)
    score = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    fuel_estimate_l = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    fuel_cost_estimate = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    toll_estimate = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    score_explanation = models.JSONField(
        default=dict, blank=True, help_text="The score's formula and the figures behind it."
    )
    provider = models.CharField(max_length=16, choices=RouteProvider.choices)
    steps = models.JSONField(default=list, blank=True)
    legs = models.JSONField(
        default=list,
        blank=True,
        help_text="Per stop of the load, in order: the leg driven to it from the previous stop (none to "
        "the first), where it lies along the path, its service time and planned arrival and departure. "
        "Empty on routes planned before stops.",
    )
    is_current = models.BooleanField(default=True)

    class Meta:
        db_table = "routes"
        ordering = ["-created_at"]
        constraints = [
            choices_constraint("provider", RouteProvider, "routes"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | (Q(score__gte=0) & Q(score__lte=100)),
                name="routes_score_range",
            ),
            models.UniqueConstraint(
                fields=["load"], condition=Q(is_current=True), name="routes_one_current_per_load"
            ),
        ]

    def __str__(self) -> str:
        return f"Route for {self.load} ({self.provider})"


class RouteFollowing(models.Model):
    """What the route follower remembers of one route between two fixes (routing.services.apply_route_fix)."""

    route = models.OneToOneField(Route, on_delete=models.CASCADE, primary_key=True, related_name="following")
    last_fix_at = models.DateTimeField(null=True, blank=True, help_text="The newest fix applied.")
    excursion_started_at = models.DateTimeField(
        null=True, blank=True, help_text="First fix of the current run outside the corridor."
    )
    excursion_reported = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    last_prediction_at = models.DateTimeField(null=True, blank=True)
    reached_sequence = models.PositiveSmallIntegerField(
        default=1, help_text="The last stop the truck reached, by the follower (the route starts at stop 1)."
    )

    class Meta:
        db_table = "route_followings"

    def __str__(self) -> str:
        return f"Following of {self.route_id}"


class FleetPlanStatus(models.TextChoices):
    QUEUED = "QUEUED"  # waiting for the solver (a Celery job)
    PROPOSED = "PROPOSED"  # solved: the dispatcher may accept it
    FAILED = "FAILED"  # the solver job failed; `error` says why
    ACCEPTED = "ACCEPTED"  # the first load of each accepted route was assigned
    DISCARDED = "DISCARDED"  # the dispatcher set it aside


_P = FleetPlanStatus
FLEET_PLAN_TRANSITIONS: dict[str, set[str]] = {
    _P.QUEUED: {_P.PROPOSED, _P.FAILED},
    _P.PROPOSED: {_P.ACCEPTED, _P.DISCARDED},
    _P.FAILED: set(),
    _P.ACCEPTED: set(),
    _P.DISCARDED: set(),
}


class FleetPlan(BaseEntity):
    """A proposed assignment of open loads to available trucks and drivers (routing.fleet).

    `request` holds the parameters as asked, `result` the routes, the unserved loads and the idle
    trucks with their reasons, `acceptance` what accepting did to each load."""

    status = models.CharField(max_length=16, choices=FleetPlanStatus.choices, default=FleetPlanStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    planned_at = models.DateTimeField(help_text="The instant the plan starts from.")
    request = models.JSONField(default=dict)
    result = models.JSONField(default=dict, blank=True)
    error = models.JSONField(null=True, blank=True)
    loads_planned = models.PositiveIntegerField(null=True, blank=True)
    loads_unserved = models.PositiveIntegerField(null=True, blank=True)
    vehicles_used = models.PositiveIntegerField(null=True, blank=True)
    distance_m = models.PositiveBigIntegerField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acceptance = models.JSONField(null=True, blank=True)
    queue_attempts = models.PositiveSmallIntegerField(
        default=1, help_text="Times the solver job was queued: a job lost with the queue is queued again."
    )

    class Meta:
        db_table = "fleet_plans"
        ordering = ["-created_at"]
        constraints = [choices_constraint("status", FleetPlanStatus, "fleet_plans")]

    def __str__(self) -> str:
        return f"Fleet plan {self.pk} ({self.status})"
