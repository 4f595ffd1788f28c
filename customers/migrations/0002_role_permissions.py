"""Role permissions for customers (see tms/migrations/0002_role_permissions.py): ADMIN and
DISPATCHER manage them in the back office, VIEWER reads them, as in the API."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "ADMIN": ("add", "change", "delete", "view"),
    "DISPATCHER": ("add", "change", "delete", "view"),
    "VIEWER": ("view",),
}


def _permissions(apps, actions):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{action}_customer" for action in actions]
    found = list(Permission.objects.filter(content_type__app_label="customers", codename__in=codenames))
    if len(found) != len(codenames):
        raise RuntimeError(f"permissions not found: {codenames}")
    return found


def grant(apps, schema_editor):
    app_config = apps.get_app_config("customers")
    app_config.models_module = True  # historical app configs have none; create_permissions skips those
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, actions in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, actions))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, actions in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, actions))


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0001_initial"),
        ("tms", "0002_role_permissions"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
