from django.urls import reverse
from rest_framework import serializers

from documents.models import Document, DocumentKind
from loads.models import Stop
from tms.api import ModelSerializer, Serializer


class DocumentSerializer(ModelSerializer):
    load_id = serializers.UUIDField(read_only=True)
    stop_id = serializers.UUIDField(read_only=True, allow_null=True)
    uploaded_by = serializers.CharField(
        source="uploaded_by.username", read_only=True, allow_null=True, default=None
    )
    download_url = serializers.SerializerMethodField(help_text="GET it for the file's bytes.")

    class Meta:
        model = Document
        fields = [
            "id",
            "load_id",
            "stop_id",
            "kind",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "uploaded_by",
            "uploaded_at",
            "download_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "size": {"help_text": "Bytes."},
            "sha256": {"help_text": "SHA-256 of the content, hex."},
            "content_type": {"help_text": "Read from the content: application/pdf, image/jpeg, ..."},
        }

    def get_download_url(self, document: Document) -> str:
        return reverse("load-documents-download", kwargs={"load_id": document.load_id, "pk": document.pk})


class DocumentUploadInput(Serializer):
    """multipart/form-data: the file and what it is."""

    file = serializers.FileField(
        help_text="PDF, JPEG, PNG or HEIC (checked from the content), at most TMS_DOCUMENT_MAX_BYTES."
    )
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    stop_id = serializers.PrimaryKeyRelatedField(
        source="stop",
        queryset=Stop.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A stop of this load (a POD: its delivery); omitted: the whole load.",
    )
