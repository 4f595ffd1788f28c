"""The seed's Load names (pickup_datetime, delivery_datetime, weight in kg, volume in m3) and its
LoadStatus: PENDING becomes CREATED (rows converted both ways)."""

from django.db import migrations, models

OLD_TO_NEW = {"PENDING": "CREATED"}


def _convert(apps, mapping):
    Load = apps.get_model("loads", "Load")
    for old, new in mapping.items():
        Load.objects.filter(status=old).update(status=new)


def pending_to_created(apps, schema_editor):
    _convert(apps, OLD_TO_NEW)


def created_to_pending(apps, schema_editor):
    _convert(apps, {new: old for old, new in OLD_TO_NEW.items()})


class Migration(migrations.Migration):
    dependencies = [("loads", "0002_facility_geofence_stopevent")]

    operations = [
        migrations.RemoveConstraint(model_name="load", name="loads_status_valid"),
        migrations.RemoveConstraint(model_name="load", name="loads_weight_positive"),
        migrations.RemoveConstraint(model_name="load", name="loads_volume_positive"),
        migrations.RemoveConstraint(model_name="load", name="loads_delivery_after_pickup"),
        migrations.RemoveConstraint(model_name="load", name="loads_pending_unassigned"),
        migrations.RemoveIndex(model_name="load", name="loads_status_728bb8_idx"),
        migrations.RenameField("load", "pickup_at", "pickup_datetime"),
        migrations.RenameField("load", "delivery_at", "delivery_datetime"),
        migrations.RenameField("load", "weight_kg", "weight"),
        migrations.RenameField("load", "volume_m3", "volume"),
        migrations.AlterModelOptions(name="load", options={"ordering": ["-pickup_datetime"]}),
        migrations.AlterField(
            model_name="load",
            name="status",
            field=models.CharField(
                choices=[
                    ("CREATED", "Created"),
                    ("ASSIGNED", "Assigned"),
                    ("PICKED_UP", "Picked Up"),
                    ("IN_TRANSIT", "In Transit"),
                    ("DELIVERED", "Delivered"),
                    ("CANCELLED", "Cancelled"),
                    ("DELAYED", "Delayed"),
                ],
                default="CREATED",
                max_length=16,
            ),
        ),
        migrations.RunPython(pending_to_created, created_to_pending),
        migrations.AlterField(
            model_name="load",
            name="volume",
            field=models.DecimalField(decimal_places=2, help_text="Volume of the freight, m3.", max_digits=7),
        ),
        migrations.AlterField(
            model_name="load",
            name="weight",
            field=models.DecimalField(decimal_places=1, help_text="Weight of the freight, kg.", max_digits=9),
        ),
        migrations.AddIndex(
            model_name="load",
            index=models.Index(fields=["status", "pickup_datetime"], name="loads_status_f44e37_idx"),
        ),
        migrations.AddConstraint(
            model_name="load",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "status__in",
                        [
                            "CREATED",
                            "ASSIGNED",
                            "PICKED_UP",
                            "IN_TRANSIT",
                            "DELIVERED",
                            "CANCELLED",
                            "DELAYED",
                        ],
                    )
                ),
                name="loads_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="load",
            constraint=models.CheckConstraint(
                condition=models.Q(("weight__gt", 0)), name="loads_weight_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="load",
            constraint=models.CheckConstraint(
                condition=models.Q(("volume__gt", 0)), name="loads_volume_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="load",
            constraint=models.CheckConstraint(
                condition=models.Q(("delivery_datetime__gt", models.F("pickup_datetime"))),
                name="loads_delivery_after_pickup",
            ),
        ),
        migrations.AddConstraint(
            model_name="load",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("driver", None), ("status", "CREATED"), ("vehicle", None)),
                    models.Q(("status", "CREATED"), _negated=True),
                    _connector="OR",
                ),
                name="loads_created_unassigned",
            ),
        ),
    ]
