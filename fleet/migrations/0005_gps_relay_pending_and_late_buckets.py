"""The tracking relay finds its fixes through gps_relay_pending instead of an index on
gps_points.relay_txid (fleet.relay); late-touched buckets for history (fleet.timescale).

The fixes stored before and not yet published get their pending rows from gps_points, while its
relay_txid index still exists; then the index goes."""

from django.db import DatabaseError, connections, migrations, models

BACKFILL = """
    INSERT INTO gps_relay_pending (relay_txid, vehicle_id, hour, first_recorded_at, last_recorded_at, fixes,
                                   received_at)
    SELECT relay_txid, vehicle_id, date_trunc('hour', recorded_at, 'UTC'), min(recorded_at), max(recorded_at),
           count(*), min(received_at)
    FROM gps_points
    WHERE relay_txid > %s
    GROUP BY 1, 2, 3
"""


def backfill_pending(apps, schema_editor):
    try:  # the relay's cursor lives in the default database
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT relay_txid FROM tracking_relay_cursors WHERE name = 'gps'")
            row = cursor.fetchone()
    except DatabaseError:
        row = None
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKFILL, [row[0] if row else 0])


class Migration(migrations.Migration):

    dependencies = [
        ('fleet', '0004_vehicle_seed_field_names'),
    ]

    operations = [
        migrations.CreateModel(
            name='GpsLateBucket',
            fields=[
                ('pk', models.CompositePrimaryKey('vehicle_id', 'bucket', blank=True, editable=False, primary_key=True, serialize=False)),
                ('vehicle_id', models.UUIDField()),
                ('bucket', models.DateTimeField()),
            ],
            options={
                'db_table': 'gps_late_buckets',
            },
        ),
        migrations.CreateModel(
            name='GpsRelayPending',
            fields=[
                ('pk', models.CompositePrimaryKey('relay_txid', 'vehicle_id', 'hour', blank=True, editable=False, primary_key=True, serialize=False)),
                ('relay_txid', models.BigIntegerField()),
                ('vehicle_id', models.UUIDField()),
                ('hour', models.DateTimeField(help_text='recorded_at of the fixes, truncated to the hour (UTC).')),
                ('first_recorded_at', models.DateTimeField()),
                ('last_recorded_at', models.DateTimeField()),
                ('fixes', models.IntegerField()),
                ('received_at', models.DateTimeField()),
            ],
            options={
                'db_table': 'gps_relay_pending',
            },
        ),
        migrations.RunPython(backfill_pending, migrations.RunPython.noop, hints={"model_name": "gpsrelaypending"}),
        migrations.RemoveIndex(
            model_name='gpspoint',
            name='gps_points_relay',
        ),
    ]
