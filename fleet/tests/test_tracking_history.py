"""A vehicle's recorded track: raw fixes, time buckets, GeoJSON; with and without TimescaleDB's
continuous aggregate (emulated here, since TimescaleDB cannot be installed on this server)."""

import datetime
import math
from urllib.parse import parse_qs, urlparse

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from drivers.tests.factories import DriverFactory
from fleet import selectors, timescale
from fleet.ingest import GpsFix, ingest_without_audit
from fleet.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

# Along the equator the geodesic is the equator itself: 0.01 degree of longitude measures
# exactly this on the WGS84 spheroid (semi-major axis 6,378,137 m).
STEP_M = 6_378_137 * math.radians(0.01)
BASE = (timezone.now() - datetime.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)


def at(minutes: float) -> datetime.datetime:
    return BASE + datetime.timedelta(minutes=minutes)


@pytest.fixture
def drive():
    """Twelve fixes a minute apart heading east along the equator, 0.01 degree each, speeds
    0, 10, ..., 110 km/h; and another vehicle's fixes that must never show."""
    vehicle = VehicleFactory()
    ingest_without_audit(
        [GpsFix(vehicle.pk, at(n), round(0.01 * n, 2), 0.0, 10.0 * n, 90.0, 5.0) for n in range(12)]
    )
    ingest_without_audit([GpsFix(VehicleFactory().pk, at(n), 10.0, 10.0, 200.0) for n in range(12)])
    return vehicle


def url(vehicle, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"/api/vehicles/{vehicle.pk}/tracking?{query}"


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


WINDOW = {"start": iso(at(0)), "end": iso(at(12))}

FIVE_MINUTE_BUCKETS = [
    {
        "start": iso(at(0)),
        "end": iso(at(5)),
        "points": 5,
        "avg_speed_kmh": 20.0,
        "max_speed_kmh": 40.0,
        "distance_m": round(4 * STEP_M, 1),
        "last_recorded_at": iso(at(4)),
        "last_location": {"type": "Point", "coordinates": [0.04, 0.0]},
    },
    {
        "start": iso(at(5)),
        "end": iso(at(10)),
        "points": 5,
        "avg_speed_kmh": 70.0,
        "max_speed_kmh": 90.0,
        "distance_m": round(5 * STEP_M, 1),  # from the fix at minute 4 onwards
        "last_recorded_at": iso(at(9)),
        "last_location": {"type": "Point", "coordinates": [0.09, 0.0]},
    },
    {
        "start": iso(at(10)),
        "end": iso(at(15)),
        "points": 2,
        "avg_speed_kmh": 105.0,
        "max_speed_kmh": 110.0,
        "distance_m": round(2 * STEP_M, 1),
        "last_recorded_at": iso(at(11)),
        "last_location": {"type": "Point", "coordinates": [0.11, 0.0]},
    },
]


class TestRawFixes:
    def test_fixes_come_oldest_first_with_every_measurement(self, viewer, drive):
        body = viewer.get(url(drive, start=iso(at(2)), end=iso(at(4)))).json()
        assert body == {
            "count": 2,
            "next": None,
            "previous": None,
            "results": [
                {
                    "recorded_at": iso(at(n)),
                    "location": {"type": "Point", "coordinates": [round(0.01 * n, 2), 0.0]},
                    "speed": 10.0 * n,
                    "heading": 90.0,
                    "accuracy": 5.0,
                    "fuel_level": None,
                    "odometer": None,
                    "engine_hours": None,
                }
                for n in (2, 3)
            ],
        }

    def test_pages_follow_next_until_the_end_and_previous_back(self, viewer, drive):
        seen, counts, link = [], set(), url(drive, page_size=5, **WINDOW)
        pages = []
        while link:
            body = viewer.get(link).json()
            pages.append(body)
            counts.add(body["count"])
            seen += [point["recorded_at"] for point in body["results"]]
            link = body["next"]
            if link:
                assert parse_qs(urlparse(link).query)["page_size"] == ["5"]
        assert seen == [iso(at(n)) for n in range(12)]
        assert counts == {12}
        assert [len(page["results"]) for page in pages] == [5, 5, 2]
        back = viewer.get(pages[-1]["previous"]).json()
        assert back["results"] == pages[1]["results"]

    def test_the_links_hold_the_window_of_the_first_page(self, viewer, drive):
        """Without `end` the window ends now: the links name it, so a later page reads the same
        window and no fix moves from one page to another."""
        body = viewer.get(url(drive, page_size=5)).json()
        query = parse_qs(urlparse(body["next"]).query)
        end = datetime.datetime.fromisoformat(query["end"][0])
        start = datetime.datetime.fromisoformat(query["start"][0])
        assert query["end"][0].endswith("Z")
        assert end - start == datetime.timedelta(hours=24)
        assert abs(end - timezone.now()) < datetime.timedelta(minutes=5)

    def test_the_default_window_is_the_last_24_hours(self, viewer, drive):
        assert viewer.get(url(drive)).json()["count"] == 12


class TestBuckets:
    def test_five_minute_buckets(self, viewer, drive):
        body = viewer.get(url(drive, bucket="5m", **WINDOW)).json()
        assert body == {"count": 3, "next": None, "previous": None, "results": FIVE_MINUTE_BUCKETS}

    @pytest.mark.parametrize("bucket", ["15m", "1h"])
    def test_wider_buckets_hold_the_whole_drive(self, viewer, drive, bucket):
        (row,) = viewer.get(url(drive, bucket=bucket, **WINDOW)).json()["results"]
        assert (row["points"], row["avg_speed_kmh"], row["max_speed_kmh"]) == (12, 55.0, 110.0)
        assert row["distance_m"] == round(11 * STEP_M, 1)
        assert row["last_location"] == {"type": "Point", "coordinates": [0.11, 0.0]}

    def test_a_window_starting_inside_a_bucket_covers_the_whole_bucket(self, viewer, drive):
        rows = viewer.get(url(drive, bucket="5m", start=iso(at(2)), end=iso(at(7)))).json()["results"]
        assert (rows[0]["start"], rows[-1]["end"]) == (iso(at(0)), iso(at(10)))
        assert [row["points"] for row in rows] == [5, 5]
        assert rows[0]["distance_m"] == round(4 * STEP_M, 1)

    def test_buckets_are_paged_like_every_list(self, viewer, drive):
        first = viewer.get(url(drive, bucket="5m", page_size=2, **WINDOW)).json()
        assert (first["count"], first["previous"]) == (3, None)
        second = viewer.get(first["next"]).json()
        assert first["results"] + second["results"] == FIVE_MINUTE_BUCKETS
        assert second["next"] is None

    def test_the_continuous_aggregate_gives_the_same_buckets(self, drive, timescale_emulation):
        plain = {
            bucket: selectors.buckets_between(
                drive.pk, start=at(0), end=at(60), bucket=selectors.BUCKETS[bucket]
            )
            for bucket in selectors.BUCKETS
        }
        with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
            assert not timescale.has_aggregate(cursor)
            timescale_emulation()
            assert timescale.has_aggregate(cursor)
        for bucket, rows in plain.items():
            from_aggregate = selectors.buckets_between(
                drive.pk, start=at(0), end=at(60), bucket=selectors.BUCKETS[bucket]
            )
            assert [rounded(row) for row in from_aggregate] == [rounded(row) for row in rows], bucket
        assert [row["points"] for row in plain["5m"]] == [5, 5, 2]

    def test_fixes_that_arrive_after_their_bucket_was_materialised_count(self, timescale_emulation):
        """A truck out of coverage uploads its buffer two days later: the buckets the refresh
        materialised before (without those fixes) must not hide them."""
        truck = VehicleFactory()
        start = BASE - datetime.timedelta(days=2)
        minutes = [start + datetime.timedelta(minutes=n) for n in range(12)]
        ingest_without_audit(
            [GpsFix(truck.pk, at, 0.01 * n, 0.0, 10.0 * n) for n, at in enumerate(minutes)][::2]
        )
        timescale_emulation(materialised_before=timezone.now() - datetime.timedelta(minutes=10))
        ingest_without_audit(
            [GpsFix(truck.pk, at, 0.01 * n, 0.0, 10.0 * n) for n, at in enumerate(minutes)][1::2]
        )
        recent = timezone.now() - datetime.timedelta(minutes=1)  # after the watermark: from the raw fixes
        ingest_without_audit([GpsFix(truck.pk, recent, 1.0, 0.0, 33.0)])
        window = {"start": start, "end": recent + datetime.timedelta(hours=1)}
        for width in selectors.BUCKETS.values():
            window = dict(
                zip(("start", "end"), selectors.align_to_buckets(**window, bucket=width), strict=True)
            )
            from_aggregate = selectors.buckets_between(truck.pk, **window, bucket=width)
            assert [rounded(row) for row in from_aggregate] == [
                rounded(row) for row in plain_buckets(truck.pk, **window, bucket=width)
            ], width
        five_minutes = selectors.buckets_between(truck.pk, **window, bucket=selectors.BUCKETS["5m"])
        assert [(row["points"], row["avg_speed_kmh"]) for row in five_minutes] == [
            (5, 20.0),
            (5, 70.0),
            (2, 105.0),
            (1, 33.0),
        ]


def plain_buckets(vehicle_id, *, start, end, bucket) -> list[dict]:
    """What buckets_between answers without the aggregate."""
    params = {
        "vehicle_id": vehicle_id,
        "start": start,
        "end": end,
        "bucket": bucket,
        "origin": timescale.BUCKET_ORIGIN,
    }
    with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
        cursor.execute(selectors.PLAIN_BUCKETS, params)
        return [dict(zip(selectors.BUCKET_FIELDS, row, strict=True)) for row in cursor.fetchall()]


def rounded(row: dict) -> dict:
    return {key: round(value, 6) if isinstance(value, float) else value for key, value in row.items()}


class TestGeoJSON:
    def test_the_track_as_a_line_string(self, viewer, drive):
        response = viewer.get(url(drive, format="geojson", **WINDOW))
        assert response["Content-Type"] == "application/geo+json"
        assert response.json() == {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[round(0.01 * n, 2), 0] for n in range(12)],
                    },
                    "properties": {
                        "vehicle_id": str(drive.pk),
                        "start": iso(at(0)),
                        "end": iso(at(12)),
                        "points": 12,
                        "truncated": False,
                        "distance_m": round(11 * STEP_M, 1),
                    },
                }
            ],
        }

    def test_buckets_as_points_along_a_line(self, viewer, drive):
        body = viewer.get(url(drive, format="geojson", bucket="5m", **WINDOW)).json()
        line, *points = body["features"]
        assert line["geometry"] == {
            "type": "LineString",
            "coordinates": [[0.04, 0.0], [0.09, 0.0], [0.11, 0.0]],
        }
        assert line["properties"]["distance_m"] == round(11 * STEP_M, 1)
        assert [point["geometry"] for point in points] == [
            row["last_location"] for row in FIVE_MINUTE_BUCKETS
        ]
        assert points[1]["properties"]["avg_speed_kmh"] == 70.0

    def test_a_single_fix_has_no_line(self, viewer, drive):
        feature = viewer.get(url(drive, format="geojson", start=iso(at(0)), end=iso(at(1)))).json()[
            "features"
        ][0]
        assert feature["geometry"] is None
        assert (feature["properties"]["points"], feature["properties"]["distance_m"]) == (1, 0)


class TestQueryAndAccess:
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"start": iso(at(10)), "end": iso(at(0))}, "end"),
            ({"start": "yesterday"}, "start"),
            ({"bucket": "2m"}, "bucket"),
            ({"limit": 0}, "limit"),
            ({"limit": 10_001}, "limit"),
            ({"format": "xml"}, "format"),
            ({"bucket": "5m", "start": iso(at(-60 * 24 * 40)), "end": iso(at(0))}, "bucket"),
        ],
    )
    def test_bad_parameters_are_400(self, viewer, drive, params, field):
        response = viewer.get(url(drive, **params))
        assert response.status_code == 400
        assert field in response.json()["error"]["details"]

    def test_a_driver_reads_only_their_carriers_tracks(self, driver_client, drive):
        assert driver_client.get(url(drive)).status_code == 404
        DriverFactory(carrier=drive.carrier, user=driver_client.user)
        assert driver_client.get(url(drive)).json()["count"] == 12

    def test_anonymous_is_401(self, anon_client, drive):
        assert anon_client.get(url(drive)).status_code == 401


@pytest.fixture
def timescale_emulation():
    """Creates, on plain PostgreSQL, stand-ins for TimescaleDB's time_bucket() and last(), and
    gps_points_5m as a plain view from the migration's own continuous-aggregate statement."""

    def create(materialised_before: datetime.datetime | None = None):
        """With `materialised_before`, the buckets before it are a table filled now, as a refresh
        leaves them, and those after it are computed from the raw fixes (real-time aggregation):
        what TimescaleDB does; without it, everything is computed from the raw fixes."""
        (statement,) = [s for s in timescale.setup_statements() if "CREATE MATERIALIZED VIEW" in s]
        prefix = (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {timescale.AGGREGATE}"
            " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"
        )
        assert statement.startswith(prefix) and statement.endswith(" WITH NO DATA")
        query = statement[len(prefix) : -len(" WITH NO DATA")]
        view = f"CREATE VIEW {timescale.AGGREGATE} AS" + query
        if materialised_before is not None:
            view = (
                f"CREATE TABLE materialised AS SELECT * FROM ({query}) AS rows WHERE bucket < %(watermark)s;"
                f" CREATE VIEW {timescale.AGGREGATE} AS SELECT * FROM materialised"
                f" UNION ALL SELECT * FROM ({query}) AS rows WHERE bucket >= %(watermark)s"
            )
        with connections[settings.TIMESERIES_DATABASE_ALIAS].cursor() as cursor:
            cursor.execute(
                """
                CREATE FUNCTION time_bucket(width interval, ts timestamptz) RETURNS timestamptz
                    LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(width, ts, '2000-01-03 00:00:00+00') $$;
                CREATE FUNCTION time_bucket(width interval, ts timestamptz, origin timestamptz)
                    RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(width, ts, origin) $$;
                CREATE TYPE last_state AS (value geography, at timestamptz);
                CREATE FUNCTION last_step(state last_state, value geography, at timestamptz)
                    RETURNS last_state LANGUAGE sql IMMUTABLE AS $$
                    SELECT CASE WHEN state IS NULL OR at > (state).at
                                THEN ROW(value, at)::last_state ELSE state END $$;
                CREATE FUNCTION last_final(state last_state) RETURNS geography
                    LANGUAGE sql IMMUTABLE AS $$ SELECT (state).value $$;
                CREATE AGGREGATE last(geography, timestamptz)
                    (SFUNC = last_step, STYPE = last_state, FINALFUNC = last_final);
                """
            )
            cursor.execute(view, {"watermark": materialised_before})

    return create
