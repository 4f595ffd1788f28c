"""Django model permissions for the role groups, so the admin back office follows the roles.

DISPATCHER runs the back office (add, change, view; delete where the domain allows it: loads are
cancelled, never deleted; routes, the audit trail and the outbox are read-only); VIEWER reads
everything; ADMIN has every TMS permission and manages users and groups. DRIVER works through the
API only and gets none.

Auth permissions are created by a post_migrate signal, after every migration has run, so on a fresh
database they do not exist yet here: `create_permissions` makes them first. A model added later needs
its own migration adding it to these lists.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ALL = ("add", "change", "delete", "view")
NO_DELETE = ("add", "change", "view")
VIEW = ("view",)

# (app_label, model_name): the actions DISPATCHER may take.
DISPATCHER_ACTIONS = {
    ("fleet", "carrier"): ALL,
    ("fleet", "vehicle"): ALL,
    ("drivers", "driver"): ALL,
    ("loads", "facility"): ALL,
    ("loads", "load"): NO_DELETE,
    ("routing", "route"): VIEW,
    ("events", "auditlog"): VIEW,
    ("events", "outboxevent"): VIEW,
}
ADMIN_EXTRA = {("auth", "user"): ALL, ("auth", "group"): ALL}


def _grants() -> dict[str, dict[tuple[str, str], tuple[str, ...]]]:
    return {
        "ADMIN": {**dict.fromkeys(DISPATCHER_ACTIONS, ALL), **ADMIN_EXTRA},
        "DISPATCHER": DISPATCHER_ACTIONS,
        "VIEWER": dict.fromkeys(DISPATCHER_ACTIONS, VIEW),
    }


def _permissions(apps, grants):
    Permission = apps.get_model("auth", "Permission")
    wanted = [(app, f"{action}_{model}") for (app, model), actions in grants.items() for action in actions]
    found = {
        (permission.content_type.app_label, permission.codename): permission
        for permission in Permission.objects.select_related("content_type").filter(
            codename__in={codename for _, codename in wanted}
        )
    }
    missing = [key for key in wanted if key not in found]
    if missing:
        raise RuntimeError(f"permissions not found: {missing}")
    return [found[key] for key in wanted]


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        # Historical app configs have no models module; create_permissions skips those.
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, grants in _grants().items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*_permissions(apps, grants))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, grants in _grants().items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, grants))


class Migration(migrations.Migration):
    dependencies = [
        ("tms", "0001_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("events", "0001_initial"),
        ("fleet", "0001_initial"),
        ("drivers", "0001_initial"),
        ("loads", "0001_initial"),
        ("routing", "0001_initial"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
