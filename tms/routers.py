from django.conf import settings

# Models whose rows are a time series: routed to the `timeseries` alias, referenced by id only.
TIMESERIES_MODELS: set[str] = {
    "drivers.dutystatusrecord",
    "events.storedevent",
    "fleet.gpspoint",
    "fleet.gpsrelaypending",
    "fleet.gpslatebucket",
    "fleet.gpsdistancemark",
    "fleet.gpsdistancestale",
}


def _is_timeseries(model) -> bool:
    return model._meta.label_lower in TIMESERIES_MODELS


class TimeseriesRouter:
    """Sends time-series models to settings.TIMESERIES_DATABASE_ALIAS, everything else to default."""

    def db_for_read(self, model, **hints):
        return settings.TIMESERIES_DATABASE_ALIAS if _is_timeseries(model) else "default"

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if model_name is None:
            return db == "default"
        label = f"{app_label}.{model_name}"
        if label in TIMESERIES_MODELS:
            return db == settings.TIMESERIES_DATABASE_ALIAS
        return db == "default"
