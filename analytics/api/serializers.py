"""The dashboard's and scorecards' query parameters and answers (typed for the OpenAPI schema)."""

import re
import zoneinfo
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.selectors import DUTY_STATUSES
from events.taxonomy import TOPICS
from loads.models import LoadStatus
from tms.api import EARLIEST_TIME, LATEST_TIME, QuerySerializer, Serializer

_STATE = re.compile(r"^[A-Z]{2}$")


@extend_schema_field({"type": "string", "example": "2026-12-07"})
class DateOrDateTimeField(serializers.Field):
    """A date (a whole day in the operator's time zone, TMS_TIME_ZONE) or an RFC 3339 / ISO 8601
    time; a time without an offset is read in the operator's time zone. Gives (value, is_date)."""

    default_error_messages = {
        "invalid": "Expected a date (2026-12-07) or a time (2026-12-07T08:00:00Z).",
        "range": f"Expected a time from {EARLIEST_TIME:%Y-%m-%d} to before {LATEST_TIME:%Y-%m-%d} (UTC).",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str) or not value:
            self.fail("invalid")
        zone = zoneinfo.ZoneInfo(settings.TMS_TIME_ZONE)
        try:
            if len(value) == 10:
                day = date.fromisoformat(value)
                moment, is_date = datetime.combine(day, time(), tzinfo=zone), True
            else:
                moment, is_date = datetime.fromisoformat(value.replace("z", "Z")), False
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=zone)
        except (ValueError, OverflowError):
            self.fail("invalid")
        try:
            in_range = EARLIEST_TIME <= moment < LATEST_TIME
        except OverflowError:
            in_range = False
        if not in_range:
            self.fail("range")
        return moment, is_date

    def to_representation(self, value):
        return value


def _query_fields(fields: dict) -> dict:
    # "from" is a Python keyword: the range's fields are declared under their query names here.
    fields["from"] = DateOrDateTimeField(
        required=False, help_text="Start: a date (that day's midnight, operator's time zone) or a time."
    )
    fields["to"] = DateOrDateTimeField(
        required=False,
        help_text="End: a date (through the end of that day, operator's time zone) or a time (exclusive). "
        "Both omitted: today in the operator's time zone.",
    )
    return fields


class RangeQuery(QuerySerializer):
    """`from` and `to`; any other parameter is refused (400), since none would be applied."""

    def get_fields(self):
        return _query_fields(super().get_fields())

    def validate(self, attrs):
        attrs = super().validate(attrs)
        zone = zoneinfo.ZoneInfo(settings.TMS_TIME_ZONE)
        today = datetime.combine(timezone.now().astimezone(zone).date(), time(), tzinfo=zone)
        start, end = attrs.get("from"), attrs.get("to")
        if end is not None:
            end_at = _day_after(end[0], zone) if end[1] else end[0]
        else:
            end_at = _day_after(start[0] if start is not None else today, zone)
        if start is not None:
            start_at = start[0]
        else:
            start_at = _midnight_before(end_at, zone) if end is not None else today
        if start_at >= end_at:
            raise serializers.ValidationError({"from": ["Must be before `to`."]})
        if end_at - start_at > timedelta(days=settings.TMS_DASHBOARD_MAX_RANGE_DAYS):
            raise serializers.ValidationError(
                {"to": [f"The range is longer than {settings.TMS_DASHBOARD_MAX_RANGE_DAYS} days."]}
            )
        attrs["start"], attrs["end"] = start_at, end_at
        return attrs


def _day_after(moment: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """Midnight (operator's zone) at the end of the day `moment` is in."""
    day = moment.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=zone)


def _midnight_before(moment: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """The midnight (operator's zone) starting the day that ends at `moment` (exclusive)."""
    day = (moment - timedelta(microseconds=1)).astimezone(zone).date()
    return datetime.combine(day, time(), tzinfo=zone)


class StateField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data).upper()
        if not _STATE.match(value):
            raise serializers.ValidationError("Expected a two-letter state code (TX).")
        return value


class DashboardQuery(RangeQuery):
    carrier_id = serializers.UUIDField(required=False, help_text="Only this carrier's figures.")
    origin_facility_id = serializers.UUIDField(required=False, help_text="Loads picked up at this facility.")
    destination_facility_id = serializers.UUIDField(
        required=False, help_text="Loads delivered to this facility."
    )
    origin_state = StateField(required=False, help_text="Loads picked up in this state (two letters).")
    destination_state = StateField(required=False, help_text="Loads delivered in this state (two letters).")


# --- Answers -------------------------------------------------------------------------------------


class LoadsByStatusSerializer(Serializer):
    """Every LoadStatus, with its count."""

    def get_fields(self):
        return {status: serializers.IntegerField() for status in LoadStatus.values}


class TrendDaySerializer(Serializer):
    date = serializers.DateField(help_text="A day in the operator's time zone.")
    created = serializers.IntegerField(help_text="Loads booked that day.")
    delivered = serializers.IntegerField(help_text="Loads delivered that day.")


class ServiceSerializer(Serializer):
    pickups = serializers.IntegerField(help_text="Loads picked up in the range.")
    pickups_on_time = serializers.IntegerField()
    on_time_pickup_rate = serializers.FloatField(allow_null=True, help_text="0-1; null without pickups.")
    deliveries = serializers.IntegerField(help_text="Loads delivered in the range.")
    deliveries_on_time = serializers.IntegerField()
    on_time_delivery_rate = serializers.FloatField(allow_null=True, help_text="0-1; null without deliveries.")
    revenue = serializers.FloatField(help_text="USD: the rates of the loads delivered in the range.")
    billed_miles = serializers.FloatField(help_text="Miles of the delivered loads (route, else estimate).")
    rate_per_mile = serializers.FloatField(allow_null=True, help_text="USD per billed mile.")


class MilesSerializer(Serializer):
    loaded_miles = serializers.FloatField(help_text="Miles driven with a load on the truck (GPS history).")
    empty_miles = serializers.FloatField(
        allow_null=True, help_text="Deadhead miles (GPS history); null with a lane filter or for a driver."
    )


class VehicleUtilisationSerializer(Serializer):
    vehicles = serializers.IntegerField()
    busy_hours = serializers.FloatField(
        help_text="Vehicle-hours ASSIGNED or IN_TRANSIT in the elapsed range."
    )
    utilisation = serializers.FloatField(
        allow_null=True, help_text="0-1: busy hours / (vehicles x elapsed hours)."
    )


class DutyHoursSerializer(Serializer):
    def get_fields(self):
        return {status: serializers.FloatField(help_text="hours") for status in DUTY_STATUSES}


class DriverActivitySerializer(Serializer):
    hours_by_duty_status = DutyHoursSerializer()
    drivers_on_duty = serializers.IntegerField(
        help_text="Drivers driving or on duty at some time in the range."
    )


class HosViolationsSerializer(Serializer):
    total = serializers.IntegerField()
    by_rule = serializers.DictField(
        child=serializers.IntegerField(), help_text="49 CFR 395 paragraph: count."
    )


class TopicCountSerializer(Serializer):
    topic = serializers.ChoiceField(choices=sorted(set(TOPICS.values())), help_text="A Kafka topic.")
    events = serializers.IntegerField()


class DelayedLoadSerializer(Serializer):
    load_id = serializers.UUIDField()
    load_number = serializers.CharField()
    delivery_datetime = serializers.DateTimeField()
    expected_delivery_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()


class RouteDeviationSerializer(Serializer):
    load_id = serializers.UUIDField()
    load_number = serializers.CharField()
    vehicle_id = serializers.UUIDField()
    started_at = serializers.DateTimeField()


class ExpiringLicenceSerializer(Serializer):
    driver_id = serializers.UUIDField()
    name = serializers.CharField()
    license_expiry = serializers.DateField()
    expired = serializers.BooleanField()


def _listing(item: type[Serializer], name: str) -> type[Serializer]:
    return type(
        name,
        (Serializer,),
        {
            "count": serializers.IntegerField(),
            "items": item(many=True, help_text="The first 20, oldest first."),
        },
    )


class OpenExceptionsSerializer(Serializer):
    delayed_loads = _listing(DelayedLoadSerializer, "DelayedLoads")()
    route_deviations = _listing(RouteDeviationSerializer, "RouteDeviations")()
    expiring_licences = _listing(ExpiringLicenceSerializer, "ExpiringLicences")()


class RangeSerializer(Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive.")
    time_zone = serializers.CharField(help_text="The operator's time zone (days of the trend).")


class DashboardSerializer(Serializer):
    range = RangeSerializer()
    loads_by_status = LoadsByStatusSerializer(help_text="Loads to be picked up in the range.")
    trend = TrendDaySerializer(many=True)
    service = ServiceSerializer()
    miles = MilesSerializer()
    vehicle_utilisation = VehicleUtilisationSerializer()
    driver_activity = DriverActivitySerializer()
    hos_violations = HosViolationsSerializer()
    events_per_topic = TopicCountSerializer(many=True, help_text="Every topic, in name order.")
    open_exceptions = OpenExceptionsSerializer(help_text="Now, whatever the range.")


class DriverScorecardSerializer(Serializer):
    driver_id = serializers.UUIDField()
    range = RangeSerializer()
    loads_by_status = LoadsByStatusSerializer()
    service = ServiceSerializer()
    miles = MilesSerializer()
    hos_violations = HosViolationsSerializer()
    driver_activity = DriverActivitySerializer()
    utilisation = serializers.FloatField(
        allow_null=True, help_text="0-1: hours driving or on duty / elapsed hours of the range."
    )


class CapacitySerializer(Serializer):
    available_vehicles = serializers.IntegerField()
    total_vehicles = serializers.IntegerField()


class CarrierScorecardSerializer(Serializer):
    carrier_id = serializers.UUIDField()
    range = RangeSerializer()
    loads_by_status = LoadsByStatusSerializer()
    service = ServiceSerializer()
    miles = MilesSerializer()
    hos_violations = HosViolationsSerializer()
    vehicle_utilisation = VehicleUtilisationSerializer()
    capacity = CapacitySerializer(help_text="Now.")
