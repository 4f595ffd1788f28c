"""The back office's shared base: `ServiceModelAdmin` (writes through the domain services) and
the read-only admin classes and helpers every app's admin.py uses.

Every domain admin inherits `ServiceModelAdmin`: an admin add, change or delete calls the domain
service, as an API call does, so it writes the same audit row and emits the same event. Part of the
project's base: it imports no app.
"""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.gis.admin import GISModelAdmin
from django.contrib.gis.forms import OSMWidget
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse

from tms.exceptions import DomainError

# What a service may refuse a change with; shown to the dispatcher as a message, never a 500.
ADMIN_ERRORS = (DomainError, ValidationError, ProtectedError, RestrictedError, IntegrityError)

# The continental US: where a new point's map opens.
US_MAP = {"attrs": {"default_lon": -96.0, "default_lat": 38.5, "default_zoom": 4}}


class OfflineOSMWidget(OSMWidget):
    """GeoDjango's map widget with OpenLayers served from here (npm `ol` at the version Django's
    widget script is written for; tms.staticfiles), not from a CDN: offline, a location field still
    shows its point and takes a click. Only the OpenStreetMap background needs the internet."""

    class Media:
        extend = False
        css = {"all": ("ol/ol.css", "gis/css/ol3.css")}
        js = ("ol/dist/ol.js", "gis/js/OLMapWidget.js")


def error_message(error: Exception) -> str:
    """The sentence a dispatcher reads for a refused change."""
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return "; ".join(
                " ".join(messages_) if field == "__all__" else f"{field}: {' '.join(messages_)}"
                for field, messages_ in error.message_dict.items()
            )
        return " ".join(error.messages)
    if isinstance(error, ProtectedError | RestrictedError):
        blocking = sorted({str(row._meta.verbose_name_plural) for row in error.args[1]})
        return f"Still referenced by {', '.join(blocking)}; it cannot be deleted."
    return "The change conflicts with existing data."


class ReadOnlyInline(admin.TabularInline):
    """Related rows listed on a parent's page; they are edited on their own page."""

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ServiceModelAdmin(GISModelAdmin):
    """A ModelAdmin whose writes go through the domain services.

    Subclasses name `create_service(*, by, **fields)`, `update_service(instance, *, by, **fields)`
    and `delete_service(instance, *, by)`, as `tms.api.TmsModelViewSet` does. An add passes the
    form's cleaned data; a change passes only the fields the user changed. The form validates the
    rules it can (field rules, constraints, the `clean()` of each admin's form); a rule only the
    service can check comes back as an error message, with nothing written (the admin view's
    transaction rolls back, its LogEntry included).
    """

    create_service: Callable[..., Any] | None = None
    update_service: Callable[..., Any] | None = None
    delete_service: Callable[..., Any] | None = None
    # For models with a live position: `location_service(instance, *, by, longitude, latitude)`.
    location_service: Callable[..., Any] | None = None
    gis_widget = OfflineOSMWidget
    gis_widget_kwargs = US_MAP

    def get_fieldsets(self, request, obj=None):
        # A field added to the model after its fieldsets were written still shows, under "Other".
        fieldsets = super().get_fieldsets(request, obj)
        if not self.fieldsets:
            return fieldsets
        listed = set(flatten_fieldsets(fieldsets))
        unlisted = [
            field.name
            for field in self.model._meta.concrete_fields
            if field.editable and not field.primary_key and field.name not in listed
        ]
        return [*fieldsets, ("Other", {"fields": unlisted})] if unlisted else fieldsets

    # --- the fields a service receives -----------------------------------------------------------

    def model_fields(self, form) -> dict[str, Any]:
        names = {field.name for field in self.model._meta.concrete_fields}
        return {name: value for name, value in form.cleaned_data.items() if name in names}

    def create_fields(self, form) -> dict[str, Any]:
        return self.model_fields(form)

    def change_fields(self, form) -> dict[str, Any]:
        fields = self.model_fields(form)
        return {name: fields[name] for name in form.changed_data if name in fields}

    # --- writes ----------------------------------------------------------------------------------

    def create(self, request: HttpRequest, fields: dict[str, Any]) -> models.Model:
        return type(self).create_service(by=request.user, **fields)

    def update(self, request: HttpRequest, obj: models.Model, fields: dict[str, Any]) -> None:
        # A position set on the map is a location report: it moves location_updated_at and emits
        # the location event for the live map, as a GPS fix does. Clearing it is an edit.
        if type(self).location_service is not None and fields.get("current_location") is not None:
            location = fields.pop("current_location")
            type(self).location_service(obj, by=request.user, longitude=location.x, latitude=location.y)
        if fields:
            type(self).update_service(obj, by=request.user, **fields)

    def save_model(self, request, obj, form, change):
        if change:
            fields = self.change_fields(form)
            if fields:
                self.update(request, obj, fields)
            obj.refresh_from_db()
            return
        created = self.create(request, self.create_fields(form))
        # The admin goes on with `obj` (log entry, redirect): make it the row the service wrote.
        for field in self.model._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def save_related(self, request, form, formsets, change):
        """Inlines on these pages are read-only: the service's write is the whole change."""
        for formset in formsets:
            # What the admin's change message reads from a saved formset: nothing was.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj):
        type(self).delete_service(obj, by=request.user)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                type(self).delete_service(obj, by=request.user)

    # --- refused changes become messages --------------------------------------------------------

    def _refused(self, request: HttpRequest, error: Exception) -> HttpResponseRedirect:
        self.message_user(request, error_message(error), messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ADMIN_ERRORS as error:
            return self._refused(request, error)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ADMIN_ERRORS as error:
            return self._refused(request, error)

    def response_action(self, request, queryset):
        # One transaction per action: a bulk delete refused halfway leaves no row deleted and no
        # LogEntry. Per-object actions run each service in its own savepoint (apply_to_each).
        try:
            with transaction.atomic():
                return super().response_action(request, queryset)
        except ADMIN_ERRORS as error:
            return self._refused(request, error)

    # --- helpers for actions ----------------------------------------------------------------------

    def apply_to_each(
        self,
        request: HttpRequest,
        objects: Iterable[models.Model],
        apply: Callable[[models.Model], Any],
        *,
        done: str,
    ) -> None:
        """Runs `apply` on each object; reports the ones done and, one by one, the ones refused."""
        succeeded = []
        for obj in objects:
            try:
                apply(obj)
            except (DomainError, ValidationError) as error:
                self.message_user(request, f"{obj}: {error_message(error)}", messages.ERROR)
            else:
                succeeded.append(str(obj))
        if succeeded:
            self.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)

    def render_action_form(
        self,
        request: HttpRequest,
        queryset,
        *,
        form,
        action: str,
        title: str,
        description: str,
        submit_label: str,
        describe: Callable[[models.Model], str] = str,
    ) -> TemplateResponse:
        """The intermediate page of an action that needs input; it posts back with `apply`."""
        objects = list(queryset)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "description": description,
            "opts": self.opts,
            "form": form,
            "items": [describe(obj) for obj in objects],
            "selected_ids": [obj.pk for obj in objects],
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "submit_label": submit_label,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/intermediate_action.html", context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the system writes (the audit trail, the outbox, computed routes): shown, never edited."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
