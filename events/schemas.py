"""One versioned Pydantic schema per event type: the contract of each event's `data`.

`emit` validates against these, so an event with missing or mistyped data never reaches the outbox.
A breaking change to a schema adds a new version (and a new `dataschema` URI); consumers read
`dataschema` to know which one they hold.
"""

from datetime import datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
    field_validator,
)

from events.taxonomy import EventType
from tms.times import rfc3339


class EventData(BaseModel):
    """Times in every event's data are timezone-aware and leave as RFC 3339 in UTC with `Z`
    (tms.times), whatever zone they were given in."""

    model_config = ConfigDict(extra="forbid")
    schema_version: ClassVar[int] = 1

    @field_validator("*", mode="after")
    @classmethod
    def _times_are_aware(cls, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("a time needs its UTC offset, e.g. 2026-11-25T08:30:00Z")
        return value

    @field_serializer("*", mode="wrap", when_used="json")
    def _times_in_utc(self, value: Any, handler: SerializerFunctionWrapHandler) -> Any:
        return rfc3339(value) if isinstance(value, datetime) else handler(value)


class LoadEvent(EventData):
    load_id: UUID
    load_number: str
    previous_status: str | None
    status: str
    carrier_id: UUID | None
    vehicle_id: UUID | None
    driver_id: UUID | None


class StopData(EventData):
    """A planned stop of a load as booked or changed: the API's field names, the location as
    longitude/latitude, `sequence` its position from 1."""

    stop_id: UUID
    sequence: int = Field(ge=1)
    kind: Literal["PICKUP", "DELIVERY"]
    facility_id: UUID
    longitude: float = Field(ge=-180, le=180)
    latitude: float = Field(ge=-90, le=90)
    address: str
    earliest_at: datetime
    latest_at: datetime
    service_minutes: int | None = Field(default=None, ge=0, description="null: the fleet default")
    pieces: int | None = Field(default=None, ge=0)
    weight: float | None = Field(default=None, ge=0, description="kg")
    instructions: str = ""


class LoadCreated(LoadEvent):
    """v2: the seed's names, as the API's (pickup_datetime, delivery_datetime, weight, volume).
    `stops`: the planned stops in order (added within v2: events stored before stops existed
    have none, and mean one pickup at the shipper and one delivery at the consignee). The bill-to
    customer, the references and the freight's equipment were added within v2 too: events stored
    before them lack the keys."""

    schema_version: ClassVar[int] = 2

    shipper_id: UUID
    consignee_id: UUID
    pickup_datetime: datetime
    delivery_datetime: datetime
    weight: float = Field(gt=0, description="kg")
    volume: float = Field(gt=0, description="m3")
    rate: float = Field(ge=0, description="USD")
    stops: list[StopData] = []
    customer_id: UUID | None = Field(default=None, description="the bill-to customer")
    po_number: str = ""
    bol_number: str = ""
    customer_reference: str = ""
    required_equipment: str = Field(default="", description="a vehicle type; blank: any")
    temperature_min_c: float | None = None
    temperature_max_c: float | None = None


class LoadStopsChanged(LoadEvent):
    """`load_changes`: what the change re-derived on the load ({"field": [old, new]} as in the
    load's audit row: the seed's pickup_*/delivery_*, shipper_id, consignee_id, estimates)."""

    load_changes: dict[str, list[Any]] = {}


class LoadStopAdded(LoadStopsChanged):
    """A stop was added at `stop.sequence`; the stops from there on moved one place later."""

    stop: StopData


class LoadStopUpdated(LoadStopsChanged):
    """A stop's window, facility, place, freight, service time or instructions changed:
    `changes` is {"field": [old, new]} as in its audit row, `stop` the stop after the change."""

    stop: StopData
    changes: dict[str, list[Any]]


class LoadStopRemoved(LoadStopsChanged):
    """A stop was removed (`stop`: its last values); the stops after it moved one place earlier."""

    stop: StopData


class LoadStopsReordered(LoadStopsChanged):
    """The load's stops, by id, in their new order (sequence 1 first)."""

    stop_ids: list[UUID]


class StopVisit(LoadEvent):
    """`correction`: a late GPS fix moved a time this stop already had (an earlier arrival or
    departure); false the first time."""

    stop_id: UUID
    sequence: int = Field(ge=1)
    kind: Literal["PICKUP", "DELIVERY"]
    facility_id: UUID
    correction: bool = False


class StopArrived(StopVisit):
    """The load's truck arrived at a planned stop (the geofence's first fix inside)."""

    arrived_at: datetime


class StopDeparted(StopVisit):
    """The load's truck left a planned stop (the first fix beyond the exit margin)."""

    arrived_at: datetime
    departed_at: datetime


class LoadUpdated(LoadEvent):
    """An edit of a pending or assigned load: {"field": [old, new]} as in its audit row."""

    changes: dict[str, list[Any]]


class LoadAssigned(LoadEvent):
    previous_vehicle_id: UUID | None = None
    previous_driver_id: UUID | None = None


class LoadPickedUp(LoadEvent):
    """v2: the scheduled time is the load's `pickup_datetime` (was scheduled_pickup_at)."""

    schema_version: ClassVar[int] = 2

    picked_up_at: datetime
    pickup_datetime: datetime


class LoadInTransit(LoadEvent):
    pass


class LoadDelivered(LoadEvent):
    delivered_at: datetime
    on_time: bool
    late_by_s: int = Field(ge=0)


class LoadCancelled(LoadEvent):
    reason: str


class DelayedStop(EventData):
    """The stop a delay is about: the first not yet reached that the truck will reach after its
    window closes (`latest_at`), with the ETA there."""

    stop_id: UUID
    sequence: int = Field(ge=1)
    kind: str
    facility_id: UUID
    facility_name: str
    latest_at: datetime
    eta: datetime
    lateness_s: int


class LoadDelayed(LoadEvent):
    """`stop` (added compatibly: absent or null when a person reports the delay, or the route
    predates stops) names the stop route following expects to reach late."""

    reason: str
    expected_delivery_at: datetime | None
    predicted_lateness_s: int | None
    stop: DelayedStop | None = None


class VehicleStatusChanged(EventData):
    """A vehicle moved along its status machine: set by a dispatcher (`reason`), or following a
    load (`load_id`)."""

    vehicle_id: UUID
    carrier_id: UUID
    previous_status: str
    status: str
    reason: str = ""
    load_id: UUID | None = None


class VehicleMaintenanceDue(EventData):
    """A vehicle is due for service: its odometer passed a multiple of the service interval
    (TMS_MAINTENANCE_INTERVAL_KM; `reason` names it), once per crossing."""

    vehicle_id: UUID
    carrier_id: UUID
    reason: str
    odometer: float | None = Field(default=None, description="km")
    engine_hours: float | None = None
    due_at: datetime | None = None


class Location(EventData):
    longitude: float = Field(ge=-180, le=180)
    latitude: float = Field(ge=-90, le=90)
    recorded_at: datetime


class VehicleLocationUpdated(Location):
    vehicle_id: UUID
    carrier_id: UUID
    speed_kmh: float | None = None
    heading: float | None = None


class DriverStatusChanged(EventData):
    """v2: the driver's status in the seed's DriverStatus (AVAILABLE, DRIVING, ON_DUTY, OFF_DUTY,
    SLEEPER_BERTH), reported by the driver or a dispatcher as of `at`, and the driving hours left
    under hours of service. Loads no longer change it (v1 had dispatch statuses and duty_status)."""

    schema_version: ClassVar[int] = 2

    driver_id: UUID
    carrier_id: UUID
    previous_status: str
    status: str
    at: datetime
    reason: str = ""
    hours_remaining: float


class DriverLocationUpdated(Location):
    driver_id: UUID
    carrier_id: UUID


class DriverHosViolation(EventData):
    driver_id: UUID
    carrier_id: UUID
    violation_id: UUID
    rule: str
    start: datetime
    end: datetime | None = None
    message: str = ""


class RouteStop(EventData):
    stop_id: UUID
    sequence: int = Field(ge=1)
    leg_distance_m: int = Field(ge=0, description="from the previous stop (0 at the first)")
    leg_duration_s: int = Field(ge=0)
    planned_arrival_at: datetime
    planned_departure_at: datetime


class RouteOptimized(EventData):
    """`stops` (added compatibly; empty on older events): the load's stops in route order, each with
    the leg driven to it and its planned arrival and departure."""

    route_id: UUID
    load_id: UUID
    vehicle_id: UUID
    driver_id: UUID | None = None
    provider: str
    distance_m: int = Field(ge=0)
    duration_s: int = Field(ge=0)
    score: float | None = None
    stops: list[RouteStop] = Field(default_factory=list)


class RouteDeviation(EventData):
    route_id: UUID
    load_id: UUID
    vehicle_id: UUID
    distance_from_route_m: float = Field(ge=0)
    longitude: float = Field(ge=-180, le=180)
    latitude: float = Field(ge=-90, le=90)
    started_at: datetime


class RouteCompleted(EventData):
    route_id: UUID
    load_id: UUID
    vehicle_id: UUID
    planned_distance_m: int
    actual_distance_m: int
    planned_duration_s: int
    actual_duration_s: int


class FleetPlanProposed(EventData):
    """The fleet optimiser finished: PROPOSED with its figures, or FAILED."""

    plan_id: UUID
    status: Literal["PROPOSED", "FAILED"]
    loads_planned: int = Field(ge=0)
    loads_unserved: int = Field(ge=0)
    vehicles_used: int = Field(ge=0)
    distance_m: int = Field(ge=0)


class FleetPlanAccepted(EventData):
    """A dispatcher accepted a fleet plan; each assignment has its own LOAD_ASSIGNED.

    v2: the loads' ids as `*_ids`, as the plan's routes name them (were loads_assigned, loads_failed)."""

    schema_version: ClassVar[int] = 2

    plan_id: UUID
    assigned_load_ids: list[UUID]
    failed_load_ids: list[UUID]


class FleetPlanDriverChanged(EventData):
    """The fleet-plan follower re-paired a truck of an accepted plan: its next planned load came
    due and the route's driver could not take it (`reason`: went off duty, out of hours...), so
    `driver_id`, a legal driver of the same carrier, took the truck and the load (its
    LOAD_ASSIGNED follows); the truck keeps them for the rest of its route."""

    plan_id: UUID
    load_id: UUID
    vehicle_id: UUID
    previous_driver_id: UUID
    driver_id: UUID
    reason: str


class CarrierPerformanceUpdated(EventData):
    """A carrier's delivery record after one of its deliveries: the loads it delivered from
    `period_start` through `period_end` (the delivery) and the share of them on time, as the
    dashboard counts them."""

    carrier_id: UUID
    on_time_rate: float = Field(ge=0, le=1, description="0-1; 0 without deliveries")
    loads_delivered: int = Field(ge=0)
    period_start: datetime
    period_end: datetime


class CarrierCapacityChanged(EventData):
    """A carrier's count of AVAILABLE trucks changed: the counts after the change."""

    carrier_id: UUID
    available_vehicles: int = Field(ge=0)
    total_vehicles: int = Field(ge=0)


class SystemAlert(EventData):
    severity: Literal["INFO", "WARNING", "CRITICAL"]
    message: str
    source: str
    details: dict[str, Any] = {}


class AiPrediction(EventData):
    model: str
    subject_type: str
    subject_id: str
    prediction: dict[str, Any]
    confidence: float | None = Field(default=None, ge=0, le=1)


class AnomalySuspected(EventData):
    rule: str
    user_id: int | None
    mutations: int = Field(ge=0)
    window_s: float = Field(gt=0)
    rate_per_s: float = Field(ge=0)
    first_at: datetime
    last_at: datetime


class CustomerEvent(EventData):
    """A customer was added, edited (`changes`: {column: [old, new]}) or deleted: its state after
    the change (before it, for a deletion)."""

    customer_id: UUID
    code: str
    name: str
    is_shipper: bool
    is_consignee: bool
    is_bill_to: bool
    is_active: bool


class CustomerCreated(CustomerEvent):
    pass


class CustomerUpdated(CustomerEvent):
    changes: dict[str, list[Any]]


class CustomerDeleted(CustomerEvent):
    pass


class DocumentEvent(LoadEvent):
    """A document was attached to a load (or one of its stops: `stop_id`) or removed from it. The
    load's fields are its state at that moment (`previous_status` equals `status`: paperwork does
    not move a load), so a load's events fold into its state whatever their type."""

    document_id: UUID
    stop_id: UUID | None
    kind: Literal["RATE_CONFIRMATION", "BOL", "POD", "OTHER"]
    original_name: str
    content_type: str
    size: int = Field(ge=0, description="bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DocumentUploaded(DocumentEvent):
    pass


class DocumentDeleted(DocumentEvent):
    pass


SCHEMAS: dict[EventType, type[EventData]] = {
    EventType.LOAD_CREATED: LoadCreated,
    EventType.LOAD_UPDATED: LoadUpdated,
    EventType.LOAD_ASSIGNED: LoadAssigned,
    EventType.LOAD_PICKED_UP: LoadPickedUp,
    EventType.LOAD_IN_TRANSIT: LoadInTransit,
    EventType.LOAD_DELIVERED: LoadDelivered,
    EventType.LOAD_CANCELLED: LoadCancelled,
    EventType.LOAD_DELAYED: LoadDelayed,
    EventType.LOAD_STOP_ADDED: LoadStopAdded,
    EventType.LOAD_STOP_UPDATED: LoadStopUpdated,
    EventType.LOAD_STOP_REMOVED: LoadStopRemoved,
    EventType.LOAD_STOPS_REORDERED: LoadStopsReordered,
    EventType.STOP_ARRIVED: StopArrived,
    EventType.STOP_DEPARTED: StopDeparted,
    EventType.VEHICLE_STATUS_CHANGED: VehicleStatusChanged,
    EventType.VEHICLE_MAINTENANCE_DUE: VehicleMaintenanceDue,
    EventType.VEHICLE_LOCATION_UPDATED: VehicleLocationUpdated,
    EventType.DRIVER_STATUS_CHANGED: DriverStatusChanged,
    EventType.DRIVER_LOCATION_UPDATED: DriverLocationUpdated,
    EventType.DRIVER_HOS_VIOLATION: DriverHosViolation,
    EventType.ROUTE_OPTIMIZED: RouteOptimized,
    EventType.ROUTE_DEVIATION: RouteDeviation,
    EventType.ROUTE_COMPLETED: RouteCompleted,
    EventType.FLEET_PLAN_PROPOSED: FleetPlanProposed,
    EventType.FLEET_PLAN_ACCEPTED: FleetPlanAccepted,
    EventType.FLEET_PLAN_DRIVER_CHANGED: FleetPlanDriverChanged,
    EventType.CARRIER_PERFORMANCE_UPDATED: CarrierPerformanceUpdated,
    EventType.CARRIER_CAPACITY_CHANGED: CarrierCapacityChanged,
    EventType.SYSTEM_ALERT: SystemAlert,
    EventType.AI_PREDICTION: AiPrediction,
    EventType.ANOMALY_SUSPECTED: AnomalySuspected,
    EventType.CUSTOMER_CREATED: CustomerCreated,
    EventType.CUSTOMER_UPDATED: CustomerUpdated,
    EventType.CUSTOMER_DELETED: CustomerDeleted,
    EventType.DOCUMENT_UPLOADED: DocumentUploaded,
    EventType.DOCUMENT_DELETED: DocumentDeleted,
}


class CloudEvent(BaseModel):
    """The envelope every event travels in (CloudEvents 1.0, structured JSON), as `emit` writes it:
    on Kafka, over /ws and in the event store. `data` follows the schema of `type`."""

    specversion: Literal["1.0"]
    id: UUID
    type: EventType
    source: str = Field(description="The producing system: /tms.")
    subject: str = Field(description="The aggregate's id (a load's, a vehicle's, ...): the Kafka key.")
    time: datetime
    datacontenttype: Literal["application/json"]
    dataschema: str = Field(description="/schemas/{type}/v{version}: which schema `data` follows.")
    correlationid: str | None = Field(description="The X-Request-ID of the request that caused it.")
    actor: int | None = Field(default=None, description="The user who caused it; absent for the system.")
    data: dict[str, Any]
