"""FLEET_PLAN_DRIVER_CHANGED joins the event types a webhook may subscribe to."""

import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_admin_permissions"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="webhooksubscription",
            name="webhook_subscriptions_event_types_valid",
        ),
        migrations.AlterField(
            model_name="webhooksubscription",
            name="event_types",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(
                    choices=[
                        ("LOAD_CREATED", "LOAD_CREATED"),
                        ("LOAD_UPDATED", "LOAD_UPDATED"),
                        ("LOAD_ASSIGNED", "LOAD_ASSIGNED"),
                        ("LOAD_PICKED_UP", "LOAD_PICKED_UP"),
                        ("LOAD_IN_TRANSIT", "LOAD_IN_TRANSIT"),
                        ("LOAD_DELIVERED", "LOAD_DELIVERED"),
                        ("LOAD_CANCELLED", "LOAD_CANCELLED"),
                        ("LOAD_DELAYED", "LOAD_DELAYED"),
                        ("VEHICLE_STATUS_CHANGED", "VEHICLE_STATUS_CHANGED"),
                        ("VEHICLE_MAINTENANCE_DUE", "VEHICLE_MAINTENANCE_DUE"),
                        ("VEHICLE_LOCATION_UPDATED", "VEHICLE_LOCATION_UPDATED"),
                        ("DRIVER_STATUS_CHANGED", "DRIVER_STATUS_CHANGED"),
                        ("DRIVER_LOCATION_UPDATED", "DRIVER_LOCATION_UPDATED"),
                        ("DRIVER_HOS_VIOLATION", "DRIVER_HOS_VIOLATION"),
                        ("ROUTE_OPTIMIZED", "ROUTE_OPTIMIZED"),
                        ("ROUTE_DEVIATION", "ROUTE_DEVIATION"),
                        ("ROUTE_COMPLETED", "ROUTE_COMPLETED"),
                        ("FLEET_PLAN_PROPOSED", "FLEET_PLAN_PROPOSED"),
                        ("FLEET_PLAN_ACCEPTED", "FLEET_PLAN_ACCEPTED"),
                        ("FLEET_PLAN_DRIVER_CHANGED", "FLEET_PLAN_DRIVER_CHANGED"),
                        ("CARRIER_PERFORMANCE_UPDATED", "CARRIER_PERFORMANCE_UPDATED"),
                        ("CARRIER_CAPACITY_CHANGED", "CARRIER_CAPACITY_CHANGED"),
                        ("SYSTEM_ALERT", "SYSTEM_ALERT"),
                        ("AI_PREDICTION", "AI_PREDICTION"),
                        ("ANOMALY_SUSPECTED", "ANOMALY_SUSPECTED"),
                    ],
                    max_length=64,
                ),
                blank=True,
                default=list,
                help_text="Event types delivered; empty: every type.",
                size=None,
            ),
        ),
        migrations.AddConstraint(
            model_name="webhooksubscription",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "event_types__contained_by",
                        [
                            "LOAD_CREATED",
                            "LOAD_UPDATED",
                            "LOAD_ASSIGNED",
                            "LOAD_PICKED_UP",
                            "LOAD_IN_TRANSIT",
                            "LOAD_DELIVERED",
                            "LOAD_CANCELLED",
                            "LOAD_DELAYED",
                            "VEHICLE_STATUS_CHANGED",
                            "VEHICLE_MAINTENANCE_DUE",
                            "VEHICLE_LOCATION_UPDATED",
                            "DRIVER_STATUS_CHANGED",
                            "DRIVER_LOCATION_UPDATED",
                            "DRIVER_HOS_VIOLATION",
                            "ROUTE_OPTIMIZED",
                            "ROUTE_DEVIATION",
                            "ROUTE_COMPLETED",
                            "FLEET_PLAN_PROPOSED",
                            "FLEET_PLAN_ACCEPTED",
                            "FLEET_PLAN_DRIVER_CHANGED",
                            "CARRIER_PERFORMANCE_UPDATED",
                            "CARRIER_CAPACITY_CHANGED",
                            "SYSTEM_ALERT",
                            "AI_PREDICTION",
                            "ANOMALY_SUSPECTED",
                        ],
                    )
                ),
                name="webhook_subscriptions_event_types_valid",
            ),
        ),
    ]
