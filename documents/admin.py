"""A load's documents on its back-office page: listed with their download links (the API's
download, which the admin's session authenticates and which checks the load's permissions).
Uploading and deleting go through the API (documents.services)."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from documents.models import Document
from loads.admin import LoadAdmin
from tms.admin import ReadOnlyInline


class DocumentInline(ReadOnlyInline):
    model = Document
    fields = ["kind", "download", "stop_label", "content_type", "size_kb", "uploaded_by", "uploaded_at"]
    show_change_link = False

    @admin.display(description="file")
    def download(self, document: Document) -> str:
        url = reverse("load-documents-download", kwargs={"load_id": document.load_id, "pk": document.pk})
        return format_html('<a href="{}">{}</a>', url, document.original_name)

    @admin.display(description="stop")
    def stop_label(self, document: Document) -> str:
        stop = document.stop
        return f"{stop.sequence}. {stop.get_kind_display()}" if stop else "the load"

    @admin.display(description="size (KB)")
    def size_kb(self, document: Document) -> str:
        return f"{document.size / 1024:,.1f}"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("stop", "uploaded_by")


# loads does not import documents (dependency direction), so the load page gets them here.
LoadAdmin.inlines = [*LoadAdmin.inlines, DocumentInline]
