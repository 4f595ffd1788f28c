"""The seed's Vehicle names (vehicle_number, capacity_weight in kg, capacity_volume in m3, odometer
in km) and its fuel_level (percent), which the vehicle's fixes keep current."""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fleet", "0003_gps_points_timescaledb")]

    operations = [
        migrations.RemoveConstraint(model_name="vehicle", name="vehicles_capacity_positive"),
        migrations.RemoveConstraint(model_name="vehicle", name="vehicles_counters_non_negative"),
        migrations.RenameField("vehicle", "unit_number", "vehicle_number"),
        migrations.RenameField("vehicle", "capacity_weight_kg", "capacity_weight"),
        migrations.RenameField("vehicle", "capacity_volume_m3", "capacity_volume"),
        migrations.RenameField("vehicle", "odometer_km", "odometer"),
        migrations.AlterModelOptions(name="vehicle", options={"ordering": ["vehicle_number"]}),
        migrations.AddField(
            model_name="vehicle",
            name="fuel_level",
            field=models.FloatField(
                blank=True,
                help_text="Fuel level, percent of the tank (0-100), as last reported by the vehicle's tracker.",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(0),
                    django.core.validators.MaxValueValidator(100),
                ],
            ),
        ),
        migrations.AlterField(
            model_name="vehicle",
            name="capacity_volume",
            field=models.DecimalField(decimal_places=2, help_text="Cargo volume, m3.", max_digits=7),
        ),
        migrations.AlterField(
            model_name="vehicle",
            name="capacity_weight",
            field=models.DecimalField(decimal_places=1, help_text="Payload capacity, kg.", max_digits=9),
        ),
        migrations.AlterField(
            model_name="vehicle",
            name="odometer",
            field=models.DecimalField(decimal_places=1, default=0, help_text="Odometer, km.", max_digits=10),
        ),
        migrations.AlterField(
            model_name="vehicle",
            name="vehicle_number",
            field=models.CharField(
                help_text="The unit number painted on the truck.", max_length=32, unique=True
            ),
        ),
        migrations.AddConstraint(
            model_name="vehicle",
            constraint=models.CheckConstraint(
                condition=models.Q(("capacity_weight__gt", 0), ("capacity_volume__gt", 0)),
                name="vehicles_capacity_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="vehicle",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("odometer__gte", 0), ("engine_hours__gte", 0), ("fuel_consumption_l_per_100km__gt", 0)
                ),
                name="vehicles_counters_non_negative",
            ),
        ),
        migrations.AddConstraint(
            model_name="vehicle",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("fuel_level__isnull", True),
                    models.Q(("fuel_level__gte", 0), ("fuel_level__lte", 100)),
                    _connector="OR",
                ),
                name="vehicles_fuel_level_percent",
            ),
        ),
    ]
