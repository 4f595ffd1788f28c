from django.apps import AppConfig


class DriversConfig(AppConfig):
    name = "drivers"
    default_auto_field = "django.db.models.BigAutoField"
