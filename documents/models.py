import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from loads.models import Load, Stop
from tms.models import BaseEntity, choices_constraint


class DocumentKind(models.TextChoices):
    RATE_CONFIRMATION = "RATE_CONFIRMATION", "Rate confirmation"
    BOL = "BOL", "Bill of lading"
    POD = "POD", "Proof of delivery"  # the consignee's signed BOL or delivery receipt
    OTHER = "OTHER", "Other"


def document_path(document: "Document", filename: str) -> str:
    """Where the file is stored: under its load, named by a fresh id with the extension of its
    checked type. Nothing of the client's file name reaches the storage (it is kept in
    `original_name`)."""
    return f"documents/{document.load_id}/{uuid.uuid4().hex}{document.extension}"


class Document(BaseEntity):
    """A file attached to a load, or to one of its stops (a POD to the delivery it proves): a
    rate confirmation, a bill of lading, a proof of delivery. Stored through Django's storage API
    (local files or an S3-compatible bucket, tms/settings.py); its type was read from its bytes.
    """

    load = models.ForeignKey(Load, on_delete=models.CASCADE, related_name="documents")
    stop = models.ForeignKey(
        Stop,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="documents",
        help_text="The stop it belongs to (a POD to its delivery); blank: the whole load.",
    )
    kind = models.CharField(max_length=24, choices=DocumentKind.choices)
    file = models.FileField(upload_to=document_path, max_length=255)
    original_name = models.CharField(max_length=255, help_text="The file's name as uploaded.")
    content_type = models.CharField(max_length=100, help_text="Read from the file's content.")
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    class Meta:
        db_table = "load_documents"
        ordering = ["uploaded_at"]
        indexes = [models.Index(fields=["load", "kind"])]
        constraints = [
            choices_constraint("kind", DocumentKind, "load_documents"),
            models.CheckConstraint(condition=Q(size__gt=0), name="load_documents_size_positive"),
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="load_documents_sha256_hex"
            ),
        ]

    # Set by the upload service from the checked content type, for `document_path`.
    extension = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.original_name}"
