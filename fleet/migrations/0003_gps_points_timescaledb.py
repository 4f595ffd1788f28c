"""With TimescaleDB on the time-series database: gps_points becomes a hypertable with compression,
retention and the gps_points_5m continuous aggregate (fleet/timescale.py). Without it: nothing."""

from django.db import migrations


def set_up(apps, schema_editor):
    from fleet import timescale

    timescale.set_up(schema_editor.connection)


def tear_down(apps, schema_editor):
    from fleet import timescale

    timescale.tear_down(schema_editor.connection)


class Migration(migrations.Migration):
    # CREATE MATERIALIZED VIEW ... WITH (timescaledb.continuous) cannot run in a transaction block.
    atomic = False

    dependencies = [
        ("fleet", "0002_gps_tracking"),
    ]

    operations = [
        # The hint sends it to the database that holds gps_points (tms.routers).
        migrations.RunPython(set_up, tear_down, hints={"model_name": "gpspoint"}),
    ]
