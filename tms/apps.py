from django.apps import AppConfig


class TmsConfig(AppConfig):
    name = "tms"
    verbose_name = "TMS"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tms import checks  # noqa: F401 - registers the database checks
        from tms.token_cache import connect

        connect()  # the token cache's invalidation signals
