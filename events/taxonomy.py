"""Every event type the TMS emits, and the Kafka topic that carries it."""

from enum import StrEnum


class EventType(StrEnum):
    LOAD_CREATED = "LOAD_CREATED"
    LOAD_UPDATED = "LOAD_UPDATED"
    LOAD_ASSIGNED = "LOAD_ASSIGNED"
    LOAD_PICKED_UP = "LOAD_PICKED_UP"
    LOAD_IN_TRANSIT = "LOAD_IN_TRANSIT"
    LOAD_DELIVERED = "LOAD_DELIVERED"
    LOAD_CANCELLED = "LOAD_CANCELLED"
    LOAD_DELAYED = "LOAD_DELAYED"
    LOAD_STOP_ADDED = "LOAD_STOP_ADDED"
    LOAD_STOP_UPDATED = "LOAD_STOP_UPDATED"
    LOAD_STOP_REMOVED = "LOAD_STOP_REMOVED"
    LOAD_STOPS_REORDERED = "LOAD_STOPS_REORDERED"
    STOP_ARRIVED = "STOP_ARRIVED"
    STOP_DEPARTED = "STOP_DEPARTED"
    VEHICLE_STATUS_CHANGED = "VEHICLE_STATUS_CHANGED"
    VEHICLE_MAINTENANCE_DUE = "VEHICLE_MAINTENANCE_DUE"
    VEHICLE_LOCATION_UPDATED = "VEHICLE_LOCATION_UPDATED"
    DRIVER_STATUS_CHANGED = "DRIVER_STATUS_CHANGED"
    DRIVER_LOCATION_UPDATED = "DRIVER_LOCATION_UPDATED"
    DRIVER_HOS_VIOLATION = "DRIVER_HOS_VIOLATION"
    ROUTE_OPTIMIZED = "ROUTE_OPTIMIZED"
    ROUTE_DEVIATION = "ROUTE_DEVIATION"
    ROUTE_COMPLETED = "ROUTE_COMPLETED"
    FLEET_PLAN_PROPOSED = "FLEET_PLAN_PROPOSED"
    FLEET_PLAN_ACCEPTED = "FLEET_PLAN_ACCEPTED"
    FLEET_PLAN_DRIVER_CHANGED = "FLEET_PLAN_DRIVER_CHANGED"
    CARRIER_PERFORMANCE_UPDATED = "CARRIER_PERFORMANCE_UPDATED"
    CARRIER_CAPACITY_CHANGED = "CARRIER_CAPACITY_CHANGED"
    SYSTEM_ALERT = "SYSTEM_ALERT"
    AI_PREDICTION = "AI_PREDICTION"
    ANOMALY_SUSPECTED = "ANOMALY_SUSPECTED"
    CUSTOMER_CREATED = "CUSTOMER_CREATED"
    CUSTOMER_UPDATED = "CUSTOMER_UPDATED"
    CUSTOMER_DELETED = "CUSTOMER_DELETED"
    DOCUMENT_UPLOADED = "DOCUMENT_UPLOADED"
    DOCUMENT_DELETED = "DOCUMENT_DELETED"


TOPICS: dict[EventType, str] = {
    **dict.fromkeys(
        [
            EventType.LOAD_CREATED,
            EventType.LOAD_UPDATED,
            EventType.LOAD_ASSIGNED,
            EventType.LOAD_PICKED_UP,
            EventType.LOAD_IN_TRANSIT,
            EventType.LOAD_DELIVERED,
            EventType.LOAD_CANCELLED,
            EventType.LOAD_DELAYED,
            EventType.LOAD_STOP_ADDED,
            EventType.LOAD_STOP_UPDATED,
            EventType.LOAD_STOP_REMOVED,
            EventType.LOAD_STOPS_REORDERED,
            EventType.STOP_ARRIVED,
            EventType.STOP_DEPARTED,
        ],
        "tms.loads",
    ),
    EventType.VEHICLE_STATUS_CHANGED: "tms.vehicles",
    EventType.VEHICLE_MAINTENANCE_DUE: "tms.vehicles",
    EventType.VEHICLE_LOCATION_UPDATED: "tms.vehicles.tracking",
    EventType.DRIVER_STATUS_CHANGED: "tms.drivers",
    EventType.DRIVER_LOCATION_UPDATED: "tms.drivers",
    EventType.DRIVER_HOS_VIOLATION: "tms.drivers",
    EventType.ROUTE_OPTIMIZED: "tms.routes",
    EventType.ROUTE_DEVIATION: "tms.routes",
    EventType.ROUTE_COMPLETED: "tms.routes",
    EventType.FLEET_PLAN_PROPOSED: "tms.routes",
    EventType.FLEET_PLAN_ACCEPTED: "tms.routes",
    EventType.FLEET_PLAN_DRIVER_CHANGED: "tms.routes",
    EventType.CARRIER_PERFORMANCE_UPDATED: "tms.carriers",
    EventType.CARRIER_CAPACITY_CHANGED: "tms.carriers",
    EventType.SYSTEM_ALERT: "tms.system.alerts",
    EventType.AI_PREDICTION: "tms.ai.predictions",
    EventType.ANOMALY_SUSPECTED: "tms.anomalies",
    EventType.CUSTOMER_CREATED: "tms.customers",
    EventType.CUSTOMER_UPDATED: "tms.customers",
    EventType.CUSTOMER_DELETED: "tms.customers",
    # A load's paperwork travels with the load's events (same key: in order with its status).
    EventType.DOCUMENT_UPLOADED: "tms.loads",
    EventType.DOCUMENT_DELETED: "tms.loads",
}
DEAD_LETTER_TOPIC = "tms.dlq"

# Position reports (single fixes, batches, OsmAnd): telemetry a device sends, not a change a person
# decided, however fast they come; the anomaly detector judges only the other events.
TELEMETRY: frozenset[EventType] = frozenset(
    {EventType.VEHICLE_LOCATION_UPDATED, EventType.DRIVER_LOCATION_UPDATED}
)
