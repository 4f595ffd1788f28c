"""GET /api/drivers/{id}/hos: the clock for a known log, exact to the hundredth, with its
explanations, violations and access rules."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from drivers.tests.factories import DriverFactory, duty_log

pytestmark = pytest.mark.django_db

H = datetime.timedelta(hours=1)
CHICAGO = ZoneInfo("America/Chicago")


def local(moment: datetime.datetime) -> str:
    return f"{moment.astimezone(CHICAGO):%Y-%m-%d %H:%M}"


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def at():
    """An instant two days ago, on the hour: the log below ends there."""
    return (timezone.now() - datetime.timedelta(days=2)).replace(minute=0, second=0, microsecond=0)


def known_log(driver, at):
    """A 12-hour drive with no break the day before (two violations), 18 hours off, then a
    day of 1 h on duty, 5 h driving, 30 min off, 2.5 h driving and 1 h on duty ending at `at`."""
    duty_log(
        driver,
        at - 40 * H,
        ("DRIVING", 12),
        (None, 18),
        ("ON_DUTY", 1),
        ("DRIVING", 5),
        ("OFF_DUTY", 0.5),
        ("DRIVING", 2.5),
        ("ON_DUTY", 1),
    )


def get_hos(client, driver, **params):
    return client.get(f"/api/drivers/{driver.pk}/hos", {k: iso(v) for k, v in params.items()})


class TestTheClock:
    def test_the_numbers_for_a_known_log(self, viewer, at):
        window = (
            f"4 h of the 14 h duty window left: it opened {local(at - 10 * H)} and closes {local(at + 4 * H)}"
        )
        driver = DriverFactory()
        known_log(driver, at)
        response = get_hos(viewer, driver, at=at)
        assert response.status_code == 200, response.json()
        body = response.json()
        explanations = body.pop("explanations")
        assert body == {
            "driver_id": str(driver.pk),
            "at": iso(at),
            "time_zone": "America/Chicago",
            "cycle": "70/8",
            "short_haul_exception": False,
            "drive_remaining_h": 3.5,
            "window_remaining_h": 4.0,
            "window_end": iso(at + 4 * H),
            "break_required_in_h": 8.0,
            "cycle_remaining_h": 48.5,
            "cycle_used_h": 21.5,
            "restart_completed_at": None,
            "in_violation": False,
            "legal_driving_h": 3.5,
            "binding_limit": "DRIVING_LIMIT",
            "violations_start": iso(at - datetime.timedelta(days=8)),
            "violations_end": iso(at),
            "violations": [
                {
                    "rule": "395.3(a)(3)(ii)",
                    "start": iso(at - 32 * H),
                    "end": iso(at - 28 * H),
                    "message": "Drove 4 h past 8 h of driving without a 30-minute break",
                },
                {
                    "rule": "395.3(a)(3)(i)",
                    "start": iso(at - 29 * H),
                    "end": iso(at - 28 * H),
                    "message": "Drove 1 h past the 11 h driving limit",
                },
            ],
        }
        assert explanations == {
            "drive_remaining_h": (
                "3.5 h of the 11 h driving limit left since the 10-hour break that ended "
                f"{local(at - 10 * H)}"
            ),
            "window_remaining_h": window,
            "window_end": window,
            "break_required_in_h": (
                "8 h of driving left before a 30-minute break is required "
                "(0 h driven since the last 30 minutes off the wheel)"
            ),
            "cycle_remaining_h": (
                "48.5 h of the 70/8 cycle's 70 h left: 21.5 h on duty in the 8 days since "
                f"{local(at - datetime.timedelta(days=8))}"
            ),
            "cycle_used_h": (
                "48.5 h of the 70/8 cycle's 70 h left: 21.5 h on duty in the 8 days since "
                f"{local(at - datetime.timedelta(days=8))}"
            ),
            "restart_completed_at": (
                "No 34-hour off-duty period in the log read (the last 8 days and 34 hours): no restart"
            ),
            "in_violation": f"Not driving past any limit at {local(at)}",
            "legal_driving_h": (
                f"3.5 h of driving from {local(at)}, then the 11-hour driving limit (395.3(a)(3)(i)) "
                "stops the driving"
            ),
        }

    def test_a_short_haul_driver_has_no_break_clock(self, viewer, at):
        driver = DriverFactory(short_haul_exception=True, hos_cycle="60/7")
        known_log(driver, at)
        body = get_hos(viewer, driver, at=at).json()
        assert body["break_required_in_h"] is None
        assert body["explanations"]["break_required_in_h"] == (
            "No 30-minute break required: short-haul exception (395.1(e)(1))"
        )
        assert (body["cycle"], body["cycle_remaining_h"]) == ("60/7", 38.5)
        assert [v["rule"] for v in body["violations"]] == ["395.3(a)(3)(i)"]

    def test_the_violations_window_is_start_to_end(self, viewer, at):
        driver = DriverFactory()
        known_log(driver, at)
        only_the_last = get_hos(viewer, driver, at=at, start=at - 30 * H, end=at).json()
        assert [v["rule"] for v in only_the_last["violations"]] == ["395.3(a)(3)(ii)", "395.3(a)(3)(i)"]
        after_them = get_hos(viewer, driver, at=at, start=at - 27 * H, end=at).json()
        assert after_them["violations"] == []

    def test_a_34_hour_restart_is_reported(self, viewer, at):
        driver = DriverFactory()
        duty_log(driver, at - 50 * H, ("ON_DUTY", 10), (None, 36), ("DRIVING", 4))
        body = get_hos(viewer, driver, at=at).json()
        assert body["restart_completed_at"] == iso(at - 4 * H)
        assert (body["cycle_used_h"], body["cycle_remaining_h"]) == (4.0, 66.0)
        assert body["explanations"]["restart_completed_at"] == (
            f"34 or more hours off duty ended {local(at - 4 * H)}: earlier on-duty time no longer "
            "counts toward the cycle"
        )

    def test_driving_now_past_11_hours_is_in_violation(self, viewer):
        driver = DriverFactory(status="DRIVING", short_haul_exception=True)
        duty_log(driver, timezone.now() - 11.5 * H, ("DRIVING", 0), open_last=True)
        body = viewer.get(f"/api/drivers/{driver.pk}/hos").json()
        assert body["in_violation"] is True
        assert body["drive_remaining_h"] == 0.0
        assert body["legal_driving_h"] == 0.0
        assert body["explanations"]["in_violation"].startswith("Driving past a limit (395.3(a)(3)(i)) at ")

    @pytest.mark.parametrize("open_record", [False, True], ids=["closed_record", "open_record"])
    def test_at_the_minute_the_driver_went_on_duty_the_window_is_open(self, viewer, at, open_record):
        driver = DriverFactory()
        duty_log(driver, at - 12 * H, ("OFF_DUTY", 12), ("ON_DUTY", 2), open_last=open_record)

        at_the_minute = get_hos(viewer, driver, at=at).json()
        a_minute_later = get_hos(viewer, driver, at=at + datetime.timedelta(minutes=1)).json()

        assert at_the_minute["window_end"] == iso(at + 14 * H)
        assert at_the_minute["window_remaining_h"] == 14.0
        assert at_the_minute["explanations"]["window_remaining_h"].startswith(
            f"14 h of the 14 h duty window left: it opened {local(at)}"
        )
        assert a_minute_later["window_end"] == iso(at + 14 * H)

    def test_at_the_minute_the_driver_stopped_driving_past_a_limit_they_are_not_in_violation(
        self, viewer, at
    ):
        driver = DriverFactory(short_haul_exception=True)
        duty_log(driver, at - 11.5 * H, ("DRIVING", 11.5), ("OFF_DUTY", 1))

        stopping = get_hos(viewer, driver, at=at).json()
        still_driving = get_hos(viewer, driver, at=at - datetime.timedelta(minutes=1)).json()

        assert (stopping["in_violation"], still_driving["in_violation"]) == (False, True)
        assert [v["rule"] for v in stopping["violations"]] == ["395.3(a)(3)(i)"]
        assert stopping["violations"][0]["end"] == iso(at)

    def test_no_log_is_a_fresh_driver(self, viewer):
        body = viewer.get(f"/api/drivers/{DriverFactory().pk}/hos").json()
        assert (body["drive_remaining_h"], body["window_end"], body["cycle_used_h"]) == (11.0, None, 0.0)
        assert (body["legal_driving_h"], body["binding_limit"]) == (11.0, "DRIVING_LIMIT")

    def test_an_unencoded_plus_in_at_is_read_as_the_offset(self, viewer, at):
        driver = DriverFactory()
        known_log(driver, at)
        response = viewer.get(f"/api/drivers/{driver.pk}/hos?at={at.isoformat()}")  # "+00:00" -> " 00:00"
        assert response.status_code == 200, response.json()
        assert response.json()["drive_remaining_h"] == 3.5


class TestBadInput:
    @pytest.mark.parametrize(
        ("query", "field"),
        [
            ("at=yesterday", "at"),
            ("at=2026-13-01T00:00:00Z", "at"),
            ("start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", "start"),
            ("start=2025-01-01T00:00:00Z&end=2026-01-01T00:00:00Z", "start"),
        ],
    )
    def test_is_400_in_the_error_envelope(self, viewer, query, field):
        driver = DriverFactory()
        response = viewer.get(f"/api/drivers/{driver.pk}/hos?{query}")
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert field in error["details"]
        assert set(error) == {"code", "message", "details", "correlation_id"}


class TestAccess:
    def test_a_driver_reads_their_own(self, driver_client):
        driver = DriverFactory(user=driver_client.user)
        assert driver_client.get(f"/api/drivers/{driver.pk}/hos").status_code == 200

    def test_a_driver_cannot_read_someone_elses(self, driver_client):
        DriverFactory(user=driver_client.user)
        other = DriverFactory()
        response = driver_client.get(f"/api/drivers/{other.pk}/hos")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_anonymous_is_401(self, anon_client):
        assert anon_client.get(f"/api/drivers/{DriverFactory().pk}/hos").status_code == 401

    def test_an_unknown_driver_is_404(self, dispatcher):
        assert dispatcher.get("/api/drivers/3fa85f64-5717-4562-b3fc-2c963f66afa6/hos").status_code == 404

    def test_the_endpoint_is_in_the_openapi_schema(self, viewer):
        schema = viewer.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        operation = schema["paths"]["/api/drivers/{id}/hos"]["get"]
        assert operation["summary"] == "Hours-of-service clock"
        assert {p["name"] for p in operation["parameters"]} >= {"at", "start", "end"}
