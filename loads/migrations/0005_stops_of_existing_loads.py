"""Every load booked before stops existed gets its two: the pickup at its shipper and the delivery at
its consignee, each at its one scheduled instant, carrying the load's weight; the geofence visits
recorded at them are linked to the stop they served."""

from django.db import migrations

FORWARD = """
INSERT INTO load_stops (id, created_at, updated_at, load_id, sequence, kind, facility_id, location, address,
                        earliest_at, latest_at, weight, instructions)
SELECT gen_random_uuid(), now(), now(), id, 1, 'PICKUP', shipper_id, pickup_location, pickup_address,
       pickup_datetime, pickup_datetime, weight, ''
FROM loads
UNION ALL
SELECT gen_random_uuid(), now(), now(), id, 2, 'DELIVERY', consignee_id, delivery_location, delivery_address,
       delivery_datetime, delivery_datetime, weight, ''
FROM loads;

UPDATE stop_events AS visit SET stop_id = stop.id
FROM load_stops AS stop
WHERE stop.load_id = visit.load_id AND stop.kind = visit.kind;
"""

BACKWARD = "UPDATE stop_events SET stop_id = NULL; DELETE FROM load_stops;"


class Migration(migrations.Migration):
    dependencies = [("loads", "0004_stops_and_equipment")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
