"""A test-only URLconf: the admin plus the ELD URLs wired as DriverAdmin.get_urls will wire them."""

from django.contrib import admin
from django.urls import include, path

from drivers.admin_eld import eld_urls
from drivers.models import Driver

urlpatterns = [
    path("admin/drivers/driver/", include(eld_urls(admin.ModelAdmin(Driver, admin.site)))),
    path("admin/", admin.site.urls),
]
