"""Checks that the databases are what the settings say: the time-series database is not the main
one under another name, and every table a database should hold exists there. `migrate` runs the
first (as a system check); /health runs both."""

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import connections, router


def database_identity(alias: str) -> tuple:
    """The server (its start time) and the database (name, oid) a connection reaches."""
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT pg_postmaster_start_time(), current_database(),"
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()


def timeseries_shares_the_main_database() -> bool:
    """A separate `timeseries` alias whose URL reaches the main database by another spelling
    (localhost for 127.0.0.1, a DNS alias): both aliases would share one django_migrations."""
    if not settings.TIMESERIES_SEPARATE:
        return False
    return database_identity("default") == database_identity(settings.TIMESERIES_DATABASE_ALIAS)


SAME_DATABASE = (
    "TIMESERIES_DATABASE_URL reaches the same database as DATABASE_URL under another host name: "
    "the two would share one migration history and the time-series tables would never be created"
)


@register(Tags.database)
def timeseries_database_is_separate(app_configs, databases=None, **kwargs) -> list[Error]:
    if not databases or not settings.TIMESERIES_SEPARATE:
        return []
    if timeseries_shares_the_main_database():
        return [
            Error(
                SAME_DATABASE,
                hint="Unset TIMESERIES_DATABASE_URL (or make it equal to DATABASE_URL) to keep the time "
                "series in the main database, or point it at another database.",
                id="tms.E001",
            )
        ]
    return []


def required_tables(alias: str) -> list[str]:
    """The tables of every model the router migrates on this alias."""
    return sorted(
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and router.allow_migrate_model(alias, model)
    )


def missing_tables(alias: str) -> list[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(format('%%I', name)) IS NULL"
            " ORDER BY name",
            [required_tables(alias)],
        )
        return [row[0] for row in cursor.fetchall()]
