import uuid

import pytest
from django.apps import apps
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tms.api_defaults import ADMIN, DISPATCHER, DRIVER, VIEWER
from tms.routers import TIMESERIES_MODELS
from tms.tests.factories import UserFactory

# The back office's users and rows, for every app's admin tests.
pytest_plugins = ["tms.tests.admin_cases", "tms.tests.brokers"]


def pytest_collection_modifyitems(items):
    """Every database test may use every database. The time series have their own database
    (`make test` sets TIMESERIES_DATABASE_URL), and pytest-django opens only `default` to a test
    that does not name its databases: each gets `databases="__all__"` (both test databases are
    created per xdist worker, and rolled back or flushed after each test)."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None:
            if not {"db", "transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())):
                continue
            item.add_marker(pytest.mark.django_db(databases="__all__"), append=False)
        elif "databases" not in marker.kwargs:
            item.add_marker(
                pytest.mark.django_db(*marker.args, **marker.kwargs, databases="__all__"), append=False
            )


@pytest.fixture
def one_database(settings, db):
    """The time series in the main database, as with TIMESERIES_DATABASE_URL unset (the embedded
    default), for a test of that path while the suite runs with a separate time-series database:
    their tables are made in the main test database inside the test's transaction, which rolls
    them back."""
    if settings.TIMESERIES_DATABASE_ALIAS != "default":
        with connections["default"].schema_editor() as editor:
            for label in sorted(TIMESERIES_MODELS):
                editor.create_model(apps.get_model(label))
        settings.TIMESERIES_DATABASE_ALIAS = "default"


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Each test gets its own key space in the real Redis: throttle counters never leak."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory):
    """Uploaded files (load documents, the demo's PODs) go to the test session's own folder, never
    to the working tree's var/media."""
    settings.MEDIA_ROOT = str(tmp_path_factory.getbasetemp() / "media")


@pytest.fixture(autouse=True)
def _throttle_clock(monkeypatch):
    """Rate limits count per window aligned to the clock (tms.api_defaults.SettingsRateThrottle):
    a test whose requests straddled the end of a minute saw its count start again (CI did). The
    throttles' clock stands still, in the middle of a minute, an hour and a day."""
    from tms.api_defaults import SettingsRateThrottle

    monkeypatch.setattr(SettingsRateThrottle, "timer", staticmethod(lambda: 1_800_001_830.0))


@pytest.fixture
def eager_celery():
    """Celery jobs run in the test's thread, their results kept in the real Redis backend
    (settings.CELERY_TASK_STORE_EAGER_RESULT).

    Celery copies Django's settings into its configuration once, at its first use in the process,
    so changing the settings in a test works only if that first use comes later (it depended on
    which tests ran before). The options are set on Celery's configuration itself (the fixture's
    value: a test may change one), and put back after the test."""
    from tms.celery import app

    eager = {"task_always_eager": True, "task_eager_propagates": True}
    before = {key: app.conf[key] for key in eager}
    app.conf.update(eager)
    yield app.conf
    app.conf.update(before)


def _client_for(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin-user", roles=[ADMIN])


@pytest.fixture
def dispatcher_user(db):
    return UserFactory(username="dispatcher-user", roles=[DISPATCHER])


@pytest.fixture
def viewer_user(db):
    return UserFactory(username="viewer-user", roles=[VIEWER])


@pytest.fixture
def driver_user(db):
    return UserFactory(username="driver-user", roles=[DRIVER])


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    return _client_for(admin_user)


@pytest.fixture
def dispatcher(dispatcher_user) -> APIClient:
    return _client_for(dispatcher_user)


@pytest.fixture
def viewer(viewer_user) -> APIClient:
    return _client_for(viewer_user)


@pytest.fixture
def driver_client(driver_user) -> APIClient:
    return _client_for(driver_user)


@pytest.fixture
def roleless_client(db) -> APIClient:
    return _client_for(UserFactory(username="nobody"))
