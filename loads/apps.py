from django.apps import AppConfig


class LoadsConfig(AppConfig):
    name = "loads"
    default_auto_field = "django.db.models.BigAutoField"
