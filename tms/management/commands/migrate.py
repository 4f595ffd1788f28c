"""`manage.py migrate` migrates every database: the main one, then the time-series one when
TIMESERIES_DATABASE_URL names another. Django's own command migrates one alias (`default` unless
--database says otherwise), and a release step that forgot `--database timeseries` left the
time-series tables uncreated. `--database ALIAS` keeps Django's meaning: that alias only. With
one database there is no `timeseries` alias to name (migrating a second alias of one database
would only mark its migrations applied: tms.settings)."""

from django.conf import settings
from django.core.management.commands import migrate


def databases_to_migrate() -> list[str]:
    return ["default", settings.TIMESERIES_DATABASE_ALIAS] if settings.TIMESERIES_SEPARATE else ["default"]


class Command(migrate.Command):
    help = "Migrates the main database and, when it is separate, the time-series database."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(database=None)

    def _aliases(self, options) -> list[str]:
        return [options["database"]] if options["database"] else databases_to_migrate()

    def get_check_kwargs(self, options):
        return {
            **super().get_check_kwargs({**options, "database": "default"}),
            "databases": self._aliases(options),
        }

    def handle(self, *args, **options):
        aliases = self._aliases(options)
        for alias in aliases:
            if len(aliases) > 1 and options["verbosity"]:
                self.stdout.write(self.style.MIGRATE_HEADING(f"Database {alias!r}:"))
            super().handle(*args, **{**options, "database": alias})
