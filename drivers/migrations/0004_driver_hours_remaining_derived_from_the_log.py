"""`hours_remaining` is no longer stored: it was the driving left as of the driver's last status
change, stale as soon as they drove or rested. The API, the admin and the dispatch form derive it
from the duty-status log at every read (drivers.selectors.hours_remaining)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("drivers", "0003_driver_seed_name_and_status"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="driver",
            name="drivers_hours_remaining_range",
        ),
        migrations.RemoveField(
            model_name="driver",
            name="hours_remaining",
        ),
    ]
