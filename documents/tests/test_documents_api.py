"""A load's documents through the API: who may list, upload, download and delete them (the load's
rules), what is refused with nothing written (no row, no file, no audit row, no event), and that
the bytes come back as they went in."""

import hashlib

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile

from documents import services
from documents.models import Document
from documents.tests.conftest import HEIC, JPEG, PDF, PNG, stored_files
from events.models import AuditLog, OutboxEvent
from loads.models import StopKind
from loads.tests.factories import LoadFactory, load_in
from tms.api_defaults import VIEWER


def url(load, document=None, suffix=""):
    base = f"/api/loads/{load.pk}/documents/"
    return f"{base}{document.pk}/{suffix}" if document else base


def upload(client, load, content=PDF, *, name="pod.pdf", kind="POD", stop=None, content_type=None):
    data = {"file": SimpleUploadedFile(name, content, content_type=content_type or "application/pdf")}
    data["kind"] = kind
    if stop is not None:
        data["stop_id"] = str(stop.pk)
    return client.post(url(load), data, format="multipart")


def counts():
    return Document.objects.count(), AuditLog.objects.count(), OutboxEvent.objects.count()


@pytest.fixture
def world(driver_user):
    """The driver's own load (in transit) and another driver's, each with a document on it."""
    mine = load_in("IN_TRANSIT")
    mine.driver.user = driver_user
    mine.driver.save()
    theirs = load_in("IN_TRANSIT")

    def attach(load):
        return services.upload_document(
            load=load, by=None, kind="BOL", file=SimpleUploadedFile("bol.pdf", PDF)
        )

    return {"own": mine, "other": theirs, "own_doc": attach(mine), "other_doc": attach(theirs)}


CLIENTS = ["admin_api", "dispatcher", "viewer", "driver_client"]


@pytest.mark.parametrize(
    ("client_name", "whose", "expected"),
    [
        ("admin_api", "own", 200),
        ("dispatcher", "own", 200),
        ("viewer", "own", 200),
        ("driver_client", "own", 200),
        ("driver_client", "other", 404),
        ("roleless_client", "own", 403),
        ("anon_client", "own", 401),
    ],
)
def test_who_may_list_a_loads_documents(request, world, client_name, whose, expected):
    client = request.getfixturevalue(client_name)
    response = client.get(url(world[whose]))
    assert response.status_code == expected
    if expected == 200:
        (row,) = response.json()["results"]
        assert row["id"] == str(world[f"{whose}_doc"].pk)
        assert row["kind"] == "BOL"
    else:
        assert "error" in response.json()


@pytest.mark.parametrize(
    ("client_name", "whose", "expected"),
    [
        ("admin_api", "own", 200),
        ("dispatcher", "own", 200),
        ("viewer", "own", 200),
        ("driver_client", "own", 200),
        ("driver_client", "other", 404),
    ],
)
def test_who_may_download_a_document(request, world, client_name, whose, expected):
    client = request.getfixturevalue(client_name)
    response = client.get(url(world[whose], world[f"{whose}_doc"], "download"))
    assert response.status_code == expected
    if expected == 200:
        assert b"".join(response.streaming_content) == PDF


@pytest.mark.parametrize(
    ("client_name", "whose", "kind", "expected"),
    [
        ("admin_api", "own", "RATE_CONFIRMATION", 201),
        ("dispatcher", "own", "BOL", 201),
        ("viewer", "own", "POD", 403),
        ("driver_client", "own", "POD", 201),
        ("driver_client", "own", "BOL", 403),  # a driver files proofs of delivery only
        ("driver_client", "other", "POD", 404),
    ],
)
def test_who_may_upload_a_document(request, world, client_name, whose, kind, expected):
    client = request.getfixturevalue(client_name)
    before = counts()
    response = upload(client, world[whose], kind=kind)
    assert response.status_code == expected, response.json()
    if expected == 201:
        assert Document.objects.get(pk=response.json()["id"]).uploaded_by == client.user
    else:
        assert response.json()["error"]["code"] in ("permission_denied", "not_found")
        assert counts() == before


@pytest.mark.parametrize(
    ("client_name", "whose", "expected"),
    [
        ("admin_api", "own", 204),
        ("dispatcher", "own", 204),
        ("viewer", "own", 403),
        ("driver_client", "own", 403),
        ("driver_client", "other", 403),
    ],
)
def test_who_may_delete_a_document(request, world, media_root, client_name, whose, expected):
    client = request.getfixturevalue(client_name)
    document = world[f"{whose}_doc"]
    files_before, before = stored_files(media_root), counts()
    response = client.delete(url(world[whose], document))
    assert response.status_code == expected
    if expected == 403:
        assert counts() == before
        assert stored_files(media_root) == files_before
        assert Document.objects.filter(pk=document.pk).exists()


def test_a_driver_who_also_reads_everything_uploads_pods_only_for_their_own_loads(driver_client, world):
    """DRIVER and VIEWER together: reads every load's documents, uploads only to loads they drive."""
    driver_client.user.groups.add(Group.objects.get(name=VIEWER))
    before = counts()
    response = upload(driver_client, world["other"])
    assert response.status_code == 403
    assert counts() == before
    assert upload(driver_client, world["own"]).status_code == 201


def test_a_driver_uploads_the_pod_for_the_delivery_of_their_load(driver_client, world):
    load = world["own"]
    delivery = load.stops.get(kind=StopKind.DELIVERY)
    response = upload(driver_client, load, PNG, name="signed.png", stop=delivery, content_type="image/png")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["stop_id"], body["content_type"]) == ("POD", str(delivery.pk), "image/png")
    assert body["uploaded_by"] == "driver-user"


def test_the_download_gives_back_the_uploaded_bytes_with_the_original_name(dispatcher, media_root):
    load = LoadFactory()
    content = JPEG + bytes(range(256)) * 40
    response = upload(dispatcher, load, content, name="Reçu signé dock 4.jpg", content_type="image/jpeg")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert (body["size"], body["content_type"], body["original_name"]) == (
        len(content),
        "image/jpeg",
        "Reçu signé dock 4.jpg",
    )
    download = dispatcher.get(body["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "image/jpeg"
    assert download["Content-Disposition"].startswith("attachment;")
    assert "filename*=utf-8''Re%C3%A7u%20sign%C3%A9%20dock%204.jpg" in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == content
    # Stored under the load, by a fresh name: nothing of the client's name reaches the disk.
    (stored,) = stored_files(media_root)
    assert stored.startswith(f"documents/{load.pk}/") and stored.endswith(".jpg") and "sign" not in stored


def test_an_upload_is_audited_and_evented(dispatcher):
    load = load_in("ASSIGNED")
    response = upload(dispatcher, load, HEIC, name="IMG_0001.HEIC", kind="POD", content_type="image/heic")
    assert response.status_code == 201, response.json()
    document = Document.objects.get()
    audit = AuditLog.objects.get(table_name="load_documents")
    assert (audit.action, audit.record_id, audit.user) == ("CREATE", str(document.pk), dispatcher.user)
    event = OutboxEvent.objects.get(type="DOCUMENT_UPLOADED")
    assert event.topic == "tms.loads" and event.envelope["subject"] == str(load.pk)
    data = event.envelope["data"]
    assert data["document_id"] == str(document.pk)
    assert (data["kind"], data["content_type"], data["size"]) == ("POD", "image/heic", len(HEIC))
    assert (data["load_number"], data["status"], data["driver_id"]) == (
        load.load_number,
        "ASSIGNED",
        str(load.driver_id),
    )


def test_deleting_a_document_removes_its_row_then_its_file(
    dispatcher, media_root, django_capture_on_commit_callbacks
):
    load = LoadFactory()
    document = Document.objects.get(pk=upload(dispatcher, load).json()["id"])
    assert len(stored_files(media_root)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = dispatcher.delete(url(load, document))
    assert response.status_code == 204
    assert not Document.objects.exists()
    assert stored_files(media_root) == []
    audit = AuditLog.objects.get(table_name="load_documents", action="DELETE")
    assert audit.record_id == str(document.pk)
    deleted = OutboxEvent.objects.get(type="DOCUMENT_DELETED").envelope["data"]
    assert (deleted["document_id"], deleted["sha256"]) == (str(document.pk), document.sha256)


@pytest.mark.parametrize(
    ("content", "name", "content_type"),
    [
        (b"<html><script>alert(1)</script></html>", "pod.pdf", "application/pdf"),  # lies about itself
        (b"MZ\x90\x00" + b"\x00" * 100, "pod.png", "image/png"),  # a Windows executable
        (b"GIF89a" + b"\x00" * 100, "pod.gif", "image/gif"),  # an image, but not an accepted one
        (b"just some text", "pod.txt", "text/plain"),
    ],
)
def test_a_file_whose_content_is_not_accepted_is_refused_with_nothing_written(
    dispatcher, media_root, content, name, content_type
):
    load = LoadFactory()
    before = counts()
    response = upload(dispatcher, load, content, name=name, content_type=content_type)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_document_type"
    assert counts() == before
    assert stored_files(media_root) == []


def test_a_file_over_the_size_limit_is_refused_with_nothing_written(dispatcher, media_root, settings):
    settings.TMS_DOCUMENT_MAX_BYTES = 1000
    load = LoadFactory()
    before = counts()
    response = upload(dispatcher, load, PDF + b"\x00" * 1000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "document_too_large"
    assert response.json()["error"]["details"]["limit_bytes"] == 1000
    assert counts() == before
    assert stored_files(media_root) == []
    assert upload(dispatcher, load, PDF).status_code == 201  # under the limit: accepted


def test_a_document_larger_than_the_api_body_limit_is_accepted_up_to_its_own_limit(dispatcher, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000  # TMS_MAX_REQUEST_BYTES
    settings.TMS_DOCUMENT_MAX_BYTES = 20_000
    load = LoadFactory()
    assert upload(dispatcher, load, PNG + b"\x00" * 10_000, content_type="image/png").status_code == 201
    # Other requests keep the API's limit.
    assert dispatcher.patch(f"/api/loads/{load.pk}/", {"notes": "x" * 3000}).status_code == 413


@pytest.mark.parametrize(
    ("data", "status", "field"),
    [
        ({"kind": "POD"}, 400, "file"),
        ({"kind": "INVOICE", "file": PDF}, 400, "kind"),
        ({"kind": "POD", "file": b""}, 400, "file"),
        ({"kind": "POD", "file": PDF, "colour": "red"}, 400, "colour"),
        ({"kind": "POD", "file": PDF, "stop_id": "not-a-uuid"}, 400, "stop_id"),
    ],
)
def test_bad_upload_forms_are_refused_with_nothing_written(dispatcher, media_root, data, status, field):
    load = LoadFactory()
    if "file" in data:
        data["file"] = SimpleUploadedFile("a.pdf", data["file"])
    before = counts()
    response = dispatcher.post(url(load), data, format="multipart")
    assert response.status_code == status
    assert field in response.json()["error"]["details"]
    assert counts() == before
    assert stored_files(media_root) == []


def test_a_stop_of_another_load_is_refused(dispatcher, media_root):
    load, other = LoadFactory(), LoadFactory()
    before = counts()
    response = upload(dispatcher, load, stop=other.stops.get(kind=StopKind.DELIVERY))
    assert response.status_code == 400
    assert "stop_id" in response.json()["error"]["details"]
    assert counts() == before
    assert stored_files(media_root) == []


def test_a_pod_on_a_pickup_is_refused(dispatcher, media_root):
    load = LoadFactory()
    before = counts()
    response = upload(dispatcher, load, stop=load.stops.get(kind=StopKind.PICKUP))
    assert response.status_code == 422
    assert counts() == before
    assert stored_files(media_root) == []


def test_a_json_body_is_not_an_upload(dispatcher):
    load = LoadFactory()
    response = dispatcher.post(url(load), {"kind": "POD"}, format="json")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_documents_of_an_unknown_load_are_not_found(dispatcher):
    response = dispatcher.get("/api/loads/00000000-0000-0000-0000-000000000000/documents/")
    assert response.status_code == 404


def test_a_document_is_reached_only_through_its_own_load(dispatcher):
    load, other = LoadFactory(), LoadFactory()
    document = Document.objects.get(pk=upload(dispatcher, load).json()["id"])
    assert dispatcher.get(url(other, document, "download")).status_code == 404
    assert dispatcher.delete(url(other, document)).status_code == 404
    assert Document.objects.filter(pk=document.pk).exists()


def test_the_list_filters_by_kind(dispatcher):
    load = LoadFactory()
    upload(dispatcher, load, kind="BOL")
    upload(dispatcher, load, PNG, kind="POD", content_type="image/png")
    rows = dispatcher.get(url(load), {"kind": "POD"}).json()["results"]
    assert [row["kind"] for row in rows] == ["POD"]
