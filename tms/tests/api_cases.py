"""The common API tests, written once (NetBox's APIViewTestCases): a test class per model declares
its path, factory and bodies; these cases check every role, the audit trail, and bad input."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import models

from events.audit import snapshot
from events.models import AuditLog, OutboxEvent


def counts(model) -> tuple[int, int, int]:
    return model.objects.count(), AuditLog.objects.count(), OutboxEvent.objects.count()


@contextmanager
def unchanged(*rows: models.Model) -> Iterator[None]:
    """Asserts that the block (a refused request) changed none of these rows, wrote no row of their
    models, and left no audit row and no event."""

    def state() -> list:
        return [(snapshot(type(row).objects.get(pk=row.pk)), counts(type(row))) for row in rows]

    before = state()
    yield
    assert state() == before


@pytest.mark.django_db
class CrudCases:
    path: str
    model: Any
    factory: Callable[..., Any]
    deletable = True

    def create_body(self) -> dict:
        raise NotImplementedError

    update_body: dict = {}
    # (body changes merged into create_body(), the field that must be named in the error)
    bad_inputs: list[tuple[dict, str]] = []

    def url(self, obj=None) -> str:
        return f"{self.path}{obj.pk}/" if obj is not None else self.path

    def test_anonymous_gets_401(self, anon_client):
        assert anon_client.get(self.url()).status_code == 401

    def test_a_user_without_a_role_gets_403(self, roleless_client):
        assert roleless_client.get(self.url()).status_code == 403

    def test_viewer_lists_and_reads(self, viewer):
        obj = self.factory()
        listing = viewer.get(self.url())
        assert listing.status_code == 200
        assert str(obj.pk) in [row["id"] for row in listing.json()["results"]]
        assert viewer.get(self.url(obj)).json()["id"] == str(obj.pk)

    @pytest.mark.parametrize("client_fixture", ["viewer", "driver_client"])
    def test_viewers_and_drivers_cannot_write(self, request, client_fixture):
        client = request.getfixturevalue(client_fixture)
        obj = self.factory()
        before = counts(self.model)
        assert client.post(self.url(), self.create_body(), format="json").status_code == 403
        assert client.patch(self.url(obj), self.update_body, format="json").status_code == 403
        assert client.delete(self.url(obj)).status_code in (403, 405)
        assert counts(self.model) == before

    @pytest.mark.parametrize("client_fixture", ["dispatcher", "admin_api"])
    def test_operators_create_with_an_audit_row(self, request, client_fixture):
        client = request.getfixturevalue(client_fixture)
        response = client.post(self.url(), self.create_body(), format="json")
        assert response.status_code == 201, response.json()
        created = self.model.objects.get(pk=response.json()["id"])
        audit = AuditLog.objects.get(record_id=str(created.pk), action="CREATE")
        assert audit.table_name == self.model._meta.db_table
        assert audit.user == client.user
        assert audit.changed_data["id"] == str(created.pk)

    def test_dispatcher_updates_with_the_change_audited(self, dispatcher):
        obj = self.factory()
        response = dispatcher.patch(self.url(obj), self.update_body, format="json")
        assert response.status_code == 200, response.json()
        audit = AuditLog.objects.get(record_id=str(obj.pk), action="UPDATE")
        assert set(self.update_body) <= {key.removesuffix("_id") for key in audit.changed_data}
        for field, value in self.update_body.items():
            assert response.json()[field] == value

    def test_an_update_that_changes_nothing_writes_no_audit_row(self, dispatcher):
        obj = self.factory()
        current = dispatcher.get(self.url(obj)).json()
        body = {field: current[field] for field in self.update_body}
        assert dispatcher.patch(self.url(obj), body, format="json").status_code == 200
        assert not AuditLog.objects.filter(record_id=str(obj.pk), action="UPDATE").exists()

    def test_dispatcher_deletes_with_an_audit_row(self, dispatcher):
        obj = self.factory()
        response = dispatcher.delete(self.url(obj))
        if not self.deletable:
            assert response.status_code == 405
            assert self.model.objects.filter(pk=obj.pk).exists()
            return
        assert response.status_code == 204
        assert not self.model.objects.filter(pk=obj.pk).exists()
        assert AuditLog.objects.get(record_id=str(obj.pk), action="DELETE").changed_data["id"] == str(obj.pk)

    def test_bad_input_is_400_and_writes_nothing(self, dispatcher):
        self.factory()  # related rows exist, so only the bad field is wrong
        for change, field in self.bad_inputs:
            before = counts(self.model)
            response = dispatcher.post(self.url(), {**self.create_body(), **change}, format="json")
            assert response.status_code == 400, (change, response.json())
            error = response.json()["error"]
            assert error["code"] == "validation_error"
            assert field in error["details"], (change, error)
            assert counts(self.model) == before

    def test_unknown_id_is_404(self, dispatcher):
        assert dispatcher.get(f"{self.path}3fa85f64-5717-4562-b3fc-2c963f66afa6/").status_code == 404
        response = dispatcher.patch(
            f"{self.path}3fa85f64-5717-4562-b3fc-2c963f66afa6/", self.update_body, format="json"
        )
        assert response.status_code == 404
