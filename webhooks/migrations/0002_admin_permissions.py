"""Role permissions for webhooks (see tms/migrations/0002_role_permissions.py): ADMIN alone manages
subscriptions and reads deliveries; DISPATCHER and VIEWER get nothing, as in the API."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "webhooksubscription": ("add", "change", "delete", "view"),
    "webhookdelivery": ("view",),
}


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{action}_{model}" for model, actions in GRANTS.items() for action in actions]
    found = list(Permission.objects.filter(content_type__app_label="webhooks", codename__in=codenames))
    if len(found) != len(codenames):
        raise RuntimeError(f"permissions not found: {codenames}")
    return found


def grant(apps, schema_editor):
    app_config = apps.get_app_config("webhooks")
    app_config.models_module = True  # historical app configs have none; create_permissions skips those
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name="ADMIN")
    group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name="ADMIN").first()
    if group is not None:
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("tms", "0002_role_permissions"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
