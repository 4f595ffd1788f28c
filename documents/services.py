"""Attaching documents to loads and removing them: the file checked (size, type read from its
bytes), stored through Django's storage API, and the row written with its audit row and event in
one transaction, the load locked.

A refused upload writes nothing: every check runs before the file reaches the storage, and a
failure after it removes the stored file again. Removal of a document deletes its file only once
the deletion has committed.
"""

import hashlib
import logging
import posixpath
import unicodedata
from typing import Any

import filetype
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from documents.models import Document, DocumentKind
from events import audit
from events.models import AuditAction
from events.outbox import emit
from events.taxonomy import EventType
from loads.models import Load, Stop, StopKind
from tms.exceptions import BusinessRuleViolation, DocumentTooLarge, UnsupportedDocumentType
from tms.models import save_checked

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | None

# The accepted types, as read from the content's magic bytes, and the extension each is stored with.
ACCEPTED_TYPES: dict[str, str] = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/heic": ".heic",  # iPhone photos
}
# filetype reads at most this many bytes to recognise a type.
_MAGIC_BYTES = 262


def _content_type(file: UploadedFile) -> str:
    """The file's type read from its first bytes; the client's Content-Type is not trusted."""
    file.seek(0)
    head = file.read(_MAGIC_BYTES)
    file.seek(0)
    guess = filetype.guess(head)
    detected = guess.mime if guess is not None else None
    if detected not in ACCEPTED_TYPES:
        raise UnsupportedDocumentType(
            f"The file's content is {detected or 'of an unknown type'}; accepted: "
            f"{', '.join(ACCEPTED_TYPES)} (read from the content, not the name or Content-Type).",
            details={"detected_type": detected, "accepted_types": list(ACCEPTED_TYPES)},
        )
    return detected


def _original_name(name: str | None, extension: str) -> str:
    """The client's file name, its folders and control characters removed, for Content-Disposition
    on download (never used as a storage path)."""
    base = posixpath.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return base[-255:] if base else f"document{extension}"


def _event_data(document: Document, load: Load) -> dict[str, Any]:
    return {
        "load_id": load.pk,
        "load_number": load.load_number,
        "previous_status": load.status,
        "status": load.status,
        "carrier_id": load.carrier_id,
        "vehicle_id": load.vehicle_id,
        "driver_id": load.driver_id,
        "document_id": document.pk,
        "stop_id": document.stop_id,
        "kind": document.kind,
        "original_name": document.original_name,
        "content_type": document.content_type,
        "size": document.size,
        "sha256": document.sha256,
    }


def _check_stop(load: Load, stop: Stop | None, kind: str) -> None:
    if stop is None:
        return
    if stop.load_id != load.pk:
        raise ValidationError({"stop_id": [f"Stop {stop.pk} is not a stop of load {load.load_number}."]})
    if kind == DocumentKind.POD and stop.kind != StopKind.DELIVERY:
        raise BusinessRuleViolation(
            f"A proof of delivery belongs to a delivery; stop {stop.sequence} is a {stop.kind}.",
            details={"stop_id": stop.pk, "stop_kind": stop.kind},
        )


@transaction.atomic
def upload_document(
    *, load: Load, by: Actor, kind: str, file: UploadedFile, stop: Stop | None = None
) -> Document:
    """Attaches a file to a load, or to one of its stops. Refused, with nothing stored: a file over
    TMS_DOCUMENT_MAX_BYTES (413), an empty one (400), content that is not PDF, JPEG, PNG or HEIC
    whatever its name and declared type (415), a stop of another load (400), a POD on a pickup
    (422)."""
    size = file.size or 0
    limit = settings.TMS_DOCUMENT_MAX_BYTES
    if size > limit:
        raise DocumentTooLarge(
            f"The file is {size} bytes; the limit is {limit} bytes.",
            details={"size": size, "limit_bytes": limit},
        )
    if size == 0:
        raise ValidationError({"file": ["The file is empty."]})
    content_type = _content_type(file)
    load = Load.objects.select_for_update(of=("self",)).get(pk=load.pk)
    _check_stop(load, stop, kind)
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    document = Document(
        load=load,
        stop=stop,
        kind=kind,
        original_name=_original_name(file.name, ACCEPTED_TYPES[content_type]),
        content_type=content_type,
        size=size,
        sha256=digest.hexdigest(),
        uploaded_by=by if by is not None and by.is_authenticated else None,
        uploaded_at=timezone.now(),
    )
    document.extension = ACCEPTED_TYPES[content_type]
    document.file.save("upload", file, save=False)
    try:
        save_checked(document)
        audit.record(
            instance=document, action=AuditAction.CREATE, changed_data=audit.snapshot(document), by=by
        )
        emit(EventType.DOCUMENT_UPLOADED, subject=load.pk, data=_event_data(document, load))
    except BaseException:
        document.file.delete(save=False)
        raise
    return document


@transaction.atomic
def delete_document(document: Document, *, by: Actor) -> None:
    """Removes a document from its load, audited and evented; its file is deleted from the storage
    once that has committed (a rollback keeps both)."""
    load = Load.objects.select_for_update(of=("self",)).get(pk=document.load_id)
    data = _event_data(document, load)
    storage, name = document.file.storage, document.file.name
    audit.audited_delete(document, by=by)
    emit(EventType.DOCUMENT_DELETED, subject=load.pk, data=data)
    transaction.on_commit(lambda: _delete_file(storage, name))


def _delete_file(storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:  # the row is gone either way; a leftover file is only space
        logger.exception("could not delete document file %s", name)
