from django.apps import AppConfig


class LoadsConfig(AppConfig):
    name = "loads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from loads import handlers  # noqa: F401 - registers the loads consumers
