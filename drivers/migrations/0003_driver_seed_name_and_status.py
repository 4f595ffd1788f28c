"""The seed's Driver: one `name`, and `status` in the seed's DriverStatus (AVAILABLE, DRIVING,
ON_DUTY, OFF_DUTY, SLEEPER_BERTH), which replaces both the dispatch status and `duty_status`;
employment moves to `is_active`.

Rows: the name is first and last name joined. The status is the duty status, the legal record
(the ELD log), except that a driver ON_DUTY who was AVAILABLE for dispatch (so on no load: loads
set ASSIGNED and IN_TRANSIT) is AVAILABLE; INACTIVE becomes is_active = False. Backwards the name
splits at its first space, and the dispatch status is INACTIVE, ASSIGNED or IN_TRANSIT (from the
driver's active load), else OFF_DUTY for a driver off duty or in the sleeper berth, else AVAILABLE.
"""

from django.db import migrations, models

ON_LOAD = ("ASSIGNED", "IN_TRANSIT")


def forwards(apps, schema_editor):
    Driver = apps.get_model("drivers", "Driver")
    for driver in Driver.objects.all().iterator():
        driver.name = f"{driver.first_name} {driver.last_name}".strip()
        driver.is_active = driver.old_status != "INACTIVE"
        if driver.duty_status == "ON_DUTY" and driver.old_status == "AVAILABLE":
            driver.status = "AVAILABLE"
        else:
            driver.status = driver.duty_status
        driver.save(update_fields=["name", "is_active", "status"])


def backwards(apps, schema_editor):
    Driver = apps.get_model("drivers", "Driver")
    on_load: dict = {}
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('loads') IS NOT NULL")
        if cursor.fetchone()[0]:
            # drivers cannot import loads: the active load's status is read from its table.
            cursor.execute(
                "SELECT driver_id, status FROM loads"
                " WHERE status IN ('ASSIGNED', 'PICKED_UP', 'IN_TRANSIT', 'DELAYED') AND driver_id IS NOT NULL"
            )
            on_load = {
                driver_id: "ASSIGNED" if status in ("ASSIGNED", "PICKED_UP") else "IN_TRANSIT"
                for driver_id, status in cursor.fetchall()
            }
    for driver in Driver.objects.all().iterator():
        first, _, last = driver.name.partition(" ")
        driver.first_name, driver.last_name = first[:64], last[:64]
        driver.duty_status = "ON_DUTY" if driver.status == "AVAILABLE" else driver.status
        if not driver.is_active:
            driver.old_status = "INACTIVE"
        elif driver.pk in on_load:
            driver.old_status = on_load[driver.pk]
        elif driver.duty_status in ("OFF_DUTY", "SLEEPER_BERTH"):
            driver.old_status = "OFF_DUTY"
        else:
            driver.old_status = "AVAILABLE"
        driver.save(update_fields=["first_name", "last_name", "duty_status", "old_status"])


class Migration(migrations.Migration):
    dependencies = [("drivers", "0002_hours_of_service")]

    operations = [
        migrations.RemoveConstraint(model_name="driver", name="drivers_status_valid"),
        migrations.RemoveConstraint(model_name="driver", name="drivers_duty_status_valid"),
        migrations.RemoveIndex(model_name="driver", name="drivers_carrier_9825d5_idx"),
        migrations.RenameField("driver", "status", "old_status"),
        migrations.AddField(
            model_name="driver",
            name="name",
            field=models.CharField(default="", help_text="Full name, as on the licence.", max_length=128),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="driver",
            name="is_active",
            field=models.BooleanField(
                default=True,
                help_text="Employed and dispatchable; an inactive driver cannot be assigned loads.",
            ),
        ),
        migrations.AddField(
            model_name="driver",
            name="status",
            field=models.CharField(
                choices=[
                    ("AVAILABLE", "Available"),
                    ("DRIVING", "Driving"),
                    ("ON_DUTY", "On Duty"),
                    ("OFF_DUTY", "Off Duty"),
                    ("SLEEPER_BERTH", "Sleeper Berth"),
                ],
                default="OFF_DUTY",
                help_text="Current duty status (AVAILABLE: on duty, not driving, ready for dispatch).",
                max_length=16,
            ),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="driver", name="old_status"),
        migrations.RemoveField(model_name="driver", name="duty_status"),
        # A default, so that going back re-adds the columns before `backwards` fills them.
        migrations.AlterField(
            model_name="driver", name="first_name", field=models.CharField(default="", max_length=64)
        ),
        migrations.AlterField(
            model_name="driver", name="last_name", field=models.CharField(default="", max_length=64)
        ),
        migrations.RemoveField(model_name="driver", name="first_name"),
        migrations.RemoveField(model_name="driver", name="last_name"),
        migrations.AlterModelOptions(name="driver", options={"ordering": ["name"]}),
        migrations.AlterField(
            model_name="driver",
            name="hours_remaining",
            field=models.DecimalField(
                decimal_places=2,
                default=11,
                help_text="Driving hours left under hours-of-service rules, as of the last status change.",
                max_digits=4,
            ),
        ),
        migrations.AddIndex(
            model_name="driver",
            index=models.Index(fields=["carrier", "status"], name="drivers_carrier_9825d5_idx"),
        ),
        migrations.AddConstraint(
            model_name="driver",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status__in", ["AVAILABLE", "DRIVING", "ON_DUTY", "OFF_DUTY", "SLEEPER_BERTH"])
                ),
                name="drivers_status_valid",
            ),
        ),
    ]
