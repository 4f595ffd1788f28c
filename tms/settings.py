"""Settings, all from the environment, in one place.

Every variable is listed with its default in the README's configuration table. Unset means the
embedded default: the project-local PostgreSQL + PostGIS and Redis that `scripts/services` starts.
"""

import ipaddress
import os
import zoneinfo
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean, got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if value in (None, "") else int(value)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from error


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and env_bool("TMS_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production")
    SECRET_KEY = "insecure-development-key-set-DJANGO_SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "tms",
    "events",
    "fleet",
    "drivers",
    "loads",
    "routing",
    "webhooks",
    "analytics",
    "customers",
    "documents",
]

MIDDLEWARE = [
    "tms.middleware.MetricsMiddleware",
    "tms.middleware.CorrelationIdMiddleware",
    "tms.middleware.ActorMiddleware",
    "tms.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tms.middleware.BackOfficeTimeZoneMiddleware",
]

ROOT_URLCONF = "tms.urls"
WSGI_APPLICATION = "tms.wsgi.application"
ASGI_APPLICATION = "tms.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases -----------------------------------------------------------------------------------
PG_PORT = env_int("TMS_PG_PORT", 55432)
EMBEDDED_DATABASE_URL = f"postgis://tms@127.0.0.1:{PG_PORT}/tms"
DATABASE_URL = env("DATABASE_URL") or EMBEDDED_DATABASE_URL
TIMESERIES_DATABASE_URL = env("TIMESERIES_DATABASE_URL")


# A bounded pool of PostgreSQL connections per process (psycopg 3's pool, through Django's own
# support): under ASGI every request runs in a thread of its own, and persistent per-thread
# connections grew with traffic until PostgreSQL refused new ones. Size it so that
# processes x DATABASE_POOL_MAX_SIZE <= max_connections - reserve (README). 0 turns pooling off
# and falls back to one persistent connection per thread (DATABASE_CONN_MAX_AGE).
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 8)
DATABASE_POOL_MIN_SIZE = env_int("DATABASE_POOL_MIN_SIZE", 2)
# A request waits this long for a free connection, then gets 503: a full or unreachable database
# answers fast instead of hanging.
DATABASE_POOL_TIMEOUT_S = float(env("DATABASE_POOL_TIMEOUT_S", "5"))
DATABASE_CONNECT_TIMEOUT_S = env_int("DATABASE_CONNECT_TIMEOUT_S", 3)
# Requests whose view runs at once in a web process (tms.asgi); the others queue in the event loop.
WEB_REQUEST_CONCURRENCY = env_int("WEB_REQUEST_CONCURRENCY", max(DATABASE_POOL_MAX_SIZE, 1))


def _database(url: str) -> dict:
    pooled = DATABASE_POOL_MAX_SIZE > 0
    config = dj_database_url.parse(
        url,
        conn_max_age=0 if pooled else env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
    config.setdefault("OPTIONS", {})["connect_timeout"] = DATABASE_CONNECT_TIMEOUT_S
    if pooled:
        config["OPTIONS"]["pool"] = {
            "min_size": min(DATABASE_POOL_MIN_SIZE, DATABASE_POOL_MAX_SIZE),
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT_S,
            # Idle connections above min_size are closed after this long.
            "max_idle": 300,
        }
    if config["ENGINE"] in {
        "django.db.backends.postgresql",
        "django.contrib.gis.db.backends.postgis",
    }:
        config["ENGINE"] = "django.contrib.gis.db.backends.postgis"
    else:
        raise ImproperlyConfigured(f"only PostgreSQL + PostGIS is supported, got {url!r}")
    return config


def same_database(url: str, other: str) -> bool:
    """Whether two URLs name one database (host, port and name; the credentials may differ)."""

    def place(value: str) -> tuple[str, int, str]:
        config = dj_database_url.parse(value)
        return (str(config["HOST"] or "").lower(), int(config["PORT"] or 5432), config["NAME"] or "")

    return place(url) == place(other)


DATABASES = {"default": _database(DATABASE_URL)}
if env("TMS_TEST_DATABASE_NAME"):
    # Lets two test runs share one server (pytest-xdist appends its worker id to this name).
    DATABASES["default"]["TEST"] = {"NAME": env("TMS_TEST_DATABASE_NAME")}
# One database named twice is one database: with two aliases on it, both would share one
# `django_migrations`, and migrating one alias would mark the other's tables as created (the
# time-series tables were then never made). A separate `timeseries` alias exists only when
# TIMESERIES_DATABASE_URL names another database; otherwise time series are written on the
# default connection and share its transactions. Spellings that the URLs cannot tell apart
# (localhost and 127.0.0.1, a DNS alias) are caught at `migrate` and by /health (tms/checks.py).
TIMESERIES_SEPARATE = bool(TIMESERIES_DATABASE_URL) and not same_database(
    TIMESERIES_DATABASE_URL, DATABASE_URL
)
if TIMESERIES_SEPARATE:
    DATABASES["timeseries"] = _database(TIMESERIES_DATABASE_URL)
    if env("TMS_TEST_DATABASE_NAME"):
        DATABASES["timeseries"]["TEST"] = {"NAME": f"{env('TMS_TEST_DATABASE_NAME')}_timeseries"}
    TIMESERIES_DATABASE_ALIAS = "timeseries"
else:
    TIMESERIES_DATABASE_ALIAS = "default"
DATABASE_ROUTERS = ["tms.routers.TimeseriesRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Debian 12 ships GDAL 3.6, which cannot block remote spatial references; client GeoJSON reaches
# GDAL as type + coordinates only (tms.api.PointField), never with a "crs" member.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# --- Redis: cache (throttling), Celery broker, Channels layer -----------------------------------
REDIS_PORT = env_int("TMS_REDIS_PORT", 56379)
EMBEDDED_REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
REDIS_URL = env("REDIS_URL") or EMBEDDED_REDIS_URL

# Connections to Redis per process (the cache and the throttles share them); a request waits up to
# REDIS_POOL_TIMEOUT_S for a free one, then gets 503.
REDIS_POOL_MAX_SIZE = env_int("REDIS_POOL_MAX_SIZE", 16)
REDIS_POOL_TIMEOUT_S = float(env("REDIS_POOL_TIMEOUT_S", "2"))
CACHES = {
    "default": {
        "BACKEND": "tms.cache.SharedRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tms",
        "OPTIONS": {
            "pool_class": "redis.BlockingConnectionPool",
            "max_connections": REDIS_POOL_MAX_SIZE,
            "timeout": REDIS_POOL_TIMEOUT_S,
            "socket_connect_timeout": 2,
            "socket_timeout": 2,
        },
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL") or REDIS_URL
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND") or REDIS_URL
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Run eagerly (no worker), a job's result is still stored, so its status URL answers. Celery copies
# this into each task class when the task is first used: it cannot be switched on later.
CELERY_TASK_STORE_EAGER_RESULT = True
CELERY_RESULT_EXPIRES = env_int("CELERY_RESULT_EXPIRES", 86400)  # also how long route job ids stay readable
CELERY_TASK_SERIALIZER = "json"
# Periodic jobs (the Procfile's `beat` process).
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-fleet-plans": {"task": "routing.tasks.requeue_stale_fleet_plans_task", "schedule": 60.0},
    "refresh-gps-odometer": {"task": "fleet.tasks.refresh_gps_odometer_task", "schedule": 60.0},
}
CELERY_ACCEPT_CONTENT = ["json"]

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

# --- WebSocket live stream (/ws, tms/ws.py) ------------------------------------------------------
TMS_WS_HEARTBEAT_S = float(env("TMS_WS_HEARTBEAT_S", "25"))  # server keepalive message period
TMS_WS_IDLE_TIMEOUT_S = float(env("TMS_WS_IDLE_TIMEOUT_S", "120"))  # close after this long silent
TMS_WS_LOCATION_MAX_PER_S = float(env("TMS_WS_LOCATION_MAX_PER_S", "1"))  # per vehicle, client; 0: all
TMS_WS_SEND_QUEUE_SIZE = env_int("TMS_WS_SEND_QUEUE_SIZE", 256)  # messages waiting per connection
TMS_WS_MAX_MESSAGE_BYTES = env_int("TMS_WS_MAX_MESSAGE_BYTES", 16384)  # largest client message
TMS_WS_DRIVER_SCOPE_REFRESH_S = float(env("TMS_WS_DRIVER_SCOPE_REFRESH_S", "60"))
TMS_WS_TICKET_TTL_S = env_int("TMS_WS_TICKET_TTL_S", 30)  # a /ws ticket is redeemable this long, once

# --- Events: outbox relay ------------------------------------------------------------------------
EVENTS_RELAY_ON_COMMIT = env_bool("EVENTS_RELAY_ON_COMMIT", True)
EVENTS_RELAY_BATCH_SIZE = env_int("EVENTS_RELAY_BATCH_SIZE", 500)
EVENTS_OUTBOX_RETENTION_HOURS = env_int("EVENTS_OUTBOX_RETENTION_HOURS", 72)

# --- Anomaly detection on the audit stream ---------------------------------------------------------
ANOMALY_RULES = env_list("TMS_ANOMALY_RULES", "events.anomaly.SustainedMutationRate")
ANOMALY_RATE_PER_S = float(env("TMS_ANOMALY_RATE_PER_S", "1"))
ANOMALY_WINDOW_S = env_int("TMS_ANOMALY_WINDOW_S", 10)

# --- Webhooks (webhooks/): subscriptions, signed deliveries, retries -----------------------------
# Deliveries to loopback, private, link-local and reserved addresses are refused (when subscribing
# and again when connecting) unless this is on: a development receiver on 127.0.0.1, the tests.
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", False)
WEBHOOKS_TIMEOUT_S = float(env("WEBHOOKS_TIMEOUT_S", "10"))  # connect, and each read of the answer
WEBHOOKS_MAX_ATTEMPTS = env_int("WEBHOOKS_MAX_ATTEMPTS", 8)  # per delivery, then FAILED
WEBHOOKS_RETRY_BASE_S = float(env("WEBHOOKS_RETRY_BASE_S", "60"))  # doubles after each failed attempt
WEBHOOKS_RETRY_MAX_S = float(env("WEBHOOKS_RETRY_MAX_S", "21600"))  # longest wait between attempts
WEBHOOKS_DISABLE_AFTER_FAILURES = env_int("WEBHOOKS_DISABLE_AFTER_FAILURES", 5)  # FAILED deliveries in a row
WEBHOOKS_RESPONSE_EXCERPT_BYTES = env_int("WEBHOOKS_RESPONSE_EXCERPT_BYTES", 2048)  # of the answer, kept
WEBHOOKS_DELIVERY_RETENTION_DAYS = env_int(
    "WEBHOOKS_DELIVERY_RETENTION_DAYS", 30
)  # finished ones, then pruned
WEBHOOKS_SENDER_THREADS = env_int("WEBHOOKS_SENDER_THREADS", 8)  # deliveries in flight per sender process

# --- Other backends (embedded when unset; later issues give them their clients) ----------------
KAFKA_BOOTSTRAP_SERVERS = env("KAFKA_BOOTSTRAP_SERVERS")
KAFKA_TOPIC_PARTITIONS = env_int("KAFKA_TOPIC_PARTITIONS", 3)
KAFKA_REPLICATION_FACTOR = env_int("KAFKA_REPLICATION_FACTOR", 1)
NEO4J_URI = env("NEO4J_URI")
NEO4J_USER = env("NEO4J_USER", "neo4j")
NEO4J_PASSWORD = env("NEO4J_PASSWORD")
NEO4J_DATABASE = env("NEO4J_DATABASE")  # empty: the server's default database
NEO4J_BATCH_SIZE = env_int("NEO4J_BATCH_SIZE", 1000)  # rows (deliveries, ids) per Cypher statement
if NEO4J_BATCH_SIZE < 1:
    raise ImproperlyConfigured(f"NEO4J_BATCH_SIZE must be at least 1, got {NEO4J_BATCH_SIZE}")
GOOGLE_MAPS_API_KEY = env("GOOGLE_MAPS_API_KEY")

# --- Auth ----------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"
TMS_DEMO_PASSWORD = env("TMS_DEMO_PASSWORD", "demo-pass")

# --- API -----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tms.api_defaults.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tms.api_defaults.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "tms.api_defaults.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "tms.api_defaults.RejectUnknownQueryParams",
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["tms.api_defaults.AnonThrottle", "tms.api_defaults.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("TMS_THROTTLE_ANON", "60/minute"),
        "user": env("TMS_THROTTLE_USER", "6000/minute"),
        "auth": env("TMS_THROTTLE_AUTH", "20/minute"),
        "osmand": env("TMS_THROTTLE_OSMAND", "120/minute"),  # per device id
        "osmand_address": env("TMS_THROTTLE_OSMAND_ADDRESS", "1200/minute"),  # per client address
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["tms.parsers.JSONParser"],  # nesting depth bounded
    "DEFAULT_SCHEMA_CLASS": "tms.schema.AutoSchema",
    "EXCEPTION_HANDLER": "tms.api.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "COERCE_DECIMAL_TO_STRING": False,
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "TMS API",
    "DESCRIPTION": (
        "Transportation management for trucking: loads, fleet, drivers, routes. Events and the /ws "
        "live stream: /api/asyncapi.json (AsyncAPI 3). "
        'Errors are always {"error": {"code", "message", "details", "correlation_id"}}.'
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/",
    "GET_LIB_DOC_EXCLUDES": "tms.schema.lib_doc_excludes",
    "ENUM_NAME_OVERRIDES": {
        "FleetPlanStatusEnum": "routing.models.FleetPlanStatus",
        "DriverStatusEnum": "drivers.models.DriverStatus",
        "EventTypeEnum": "events.taxonomy.EventType",
        "StopKindEnum": "loads.models.StopKind",
        "DocumentKindEnum": "documents.models.DocumentKind",
        "VehicleTypeEnum": "fleet.models.VehicleType",
    },
    "PREPROCESSING_HOOKS": ["tms.api.schema_paths_without_trailing_slash"],
}

# Request bodies over this size get 413 before any parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("TMS_MAX_REQUEST_BYTES", 5 * 1024 * 1024)

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_ALL_ORIGINS = env_bool("CORS_ALLOW_ALL_ORIGINS", False)
CORS_EXPOSE_HEADERS = ["X-Request-ID"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "origin",
    "x-csrftoken",
    "x-request-id",
]

# --- Routing estimates used before the routing service has a real route ------------------------
ROUTING_CIRCUITY_FACTOR = float(env("ROUTING_CIRCUITY_FACTOR", "1.2"))
ROUTING_AVERAGE_SPEED_KMH = float(env("ROUTING_AVERAGE_SPEED_KMH", "88"))

# --- Street routing (Google Maps Directions, with the great-circle fallback) -------------------------
ROUTING_GOOGLE_TIMEOUT_S = float(env("ROUTING_GOOGLE_TIMEOUT_S", "10"))
ROUTING_GOOGLE_RETRY_TIMEOUT_S = float(env("ROUTING_GOOGLE_RETRY_TIMEOUT_S", "20"))
ROUTING_GOOGLE_AVOID = env_list("ROUTING_GOOGLE_AVOID", "ferries")  # any of tolls,highways,ferries
ROUTING_GOOGLE_TRAFFIC_MODEL = env("ROUTING_GOOGLE_TRAFFIC_MODEL", "best_guess")
ROUTING_BREAKER_FAILURES = env_int("ROUTING_BREAKER_FAILURES", 5)
ROUTING_BREAKER_COOLDOWN_S = env_int("ROUTING_BREAKER_COOLDOWN_S", 60)
ROUTING_CACHE_TTL_S = env_int("ROUTING_CACHE_TTL_S", 900)
ROUTING_DEPARTURE_BUCKET_S = env_int("ROUTING_DEPARTURE_BUCKET_S", 900)
ROUTING_FUEL_PRICE_PER_L = env("ROUTING_FUEL_PRICE_PER_L", "1.05")
# An estimate: the Directions API gives no truck tolls.
ROUTING_TOLL_RATE_PER_KM = env("ROUTING_TOLL_RATE_PER_KM", "0.05")
ROUTING_SCORE_SLACK_TARGET_S = env_int("ROUTING_SCORE_SLACK_TARGET_S", 7200)
# Following the route from the GPS stream (routing/following.py).
ROUTING_DEVIATION_CORRIDOR_M = env_int("ROUTING_DEVIATION_CORRIDOR_M", 500)  # off route beyond this
ROUTING_DEVIATION_MIN_S = env_int("ROUTING_DEVIATION_MIN_S", 120)  # off route this long: ROUTE_DEVIATION
ROUTING_ARRIVAL_RADIUS_M = env_int("ROUTING_ARRIVAL_RADIUS_M", 300)  # this close to the destination: arrived
ROUTING_DELAY_GRACE_S = env_int("ROUTING_DELAY_GRACE_S", 900)  # ETA lateness tolerated before LOAD_DELAYED
ROUTING_ETA_SPEED_SAMPLES = env_int("ROUTING_ETA_SPEED_SAMPLES", 5)  # recent fixes averaged for the ETA
# Fleet optimisation (routing/fleet.py): defaults of POST /api/routes/optimize-fleet.
ROUTING_FLEET_TIME_LIMIT_S = env_int("ROUTING_FLEET_TIME_LIMIT_S", 10)  # solver time per plan
ROUTING_FLEET_HORIZON_HOURS = env_int("ROUTING_FLEET_HORIZON_HOURS", 48)  # loads picked up within this
ROUTING_FLEET_PICKUP_WINDOW_MINUTES = env_int(
    "ROUTING_FLEET_PICKUP_WINDOW_MINUTES", 120
)  # after pickup_datetime
ROUTING_FLEET_STOP_MINUTES = env_int("ROUTING_FLEET_STOP_MINUTES", 30)  # loading or unloading per stop
ROUTING_FLEET_SHIFT_HOURS = env_int("ROUTING_FLEET_SHIFT_HOURS", 11)  # longest work between 10-hour rests
ROUTING_FLEET_MAX_LOADS = env_int("ROUTING_FLEET_MAX_LOADS", 1000)  # loads per plan, earliest pickups first
ROUTING_FLEET_PLAN_TTL_S = env_int("ROUTING_FLEET_PLAN_TTL_S", 3600)  # a plan older than this is not accepted
# A plan still QUEUED this long lost its job (Redis restarted without it, a worker died): queue it
# again, up to this many times in all, then FAILED (job_lost). Celery beat checks every minute.
ROUTING_FLEET_REQUEUE_AFTER_S = env_int("ROUTING_FLEET_REQUEUE_AFTER_S", 300)
ROUTING_FLEET_MAX_QUEUE_ATTEMPTS = env_int("ROUTING_FLEET_MAX_QUEUE_ATTEMPTS", 3)

# --- i18n, static --------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["tms.formats"]  # times written with their zone (2026-12-07 08:00 CST)
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
# Uploaded files (load documents): local files under MEDIA_ROOT, or an S3-compatible bucket
# (AWS S3, MinIO, Ceph, R2...) through django-storages when TMS_DOCUMENT_S3_BUCKET is set, with
# boto3's usual credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, an instance role...).
# Never served at MEDIA_URL: downloads go through the API, which checks who may read them.
MEDIA_ROOT = env("TMS_MEDIA_ROOT", str(BASE_DIR / "var" / "media"))
MEDIA_URL = "media/"
DOCUMENT_S3_BUCKET = env("TMS_DOCUMENT_S3_BUCKET")
if DOCUMENT_S3_BUCKET:
    DOCUMENT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": DOCUMENT_S3_BUCKET,
            "endpoint_url": env("TMS_DOCUMENT_S3_ENDPOINT_URL") or None,
            "region_name": env("TMS_DOCUMENT_S3_REGION") or None,
            "location": env("TMS_DOCUMENT_S3_PREFIX", ""),
            "file_overwrite": False,
            "default_acl": None,  # the bucket's own policy: private
            "querystring_auth": True,
        },
    }
else:
    DOCUMENT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": DOCUMENT_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Leaflet comes from npm (package.json; scripts/bootstrap runs `npm ci`).
STATICFILES_DIRS = [("leaflet", BASE_DIR / "node_modules" / "leaflet" / "dist"), BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "tms.staticfiles.NodeModulesFinder",
]

# --- GPS tracking -------------------------------------------------------------------------------------
GPS_RETENTION_DAYS = env_int("TMS_GPS_RETENTION_DAYS", 365)  # TimescaleDB retention; older fixes refused
GPS_COMPRESS_AFTER_DAYS = env_int("TMS_GPS_COMPRESS_AFTER_DAYS", 7)
GPS_CHUNK_INTERVAL_HOURS = env_int("TMS_GPS_CHUNK_INTERVAL_HOURS", 24)
GPS_BATCH_MAX_POINTS = env_int("TMS_GPS_BATCH_MAX_POINTS", 10_000)

# --- Geofences and the dispatch board ------------------------------------------------------------
TMS_GEOFENCE_AUTO_ADVANCE = env_bool("TMS_GEOFENCE_AUTO_ADVANCE", False)

# --- Documents ----------------------------------------------------------------------------------
# The largest document accepted (a phone photo of a signed POD is 2-5 MB); the upload request may
# be this much larger than TMS_MAX_REQUEST_BYTES (tms.middleware.RequestSizeLimitMiddleware).
TMS_DOCUMENT_MAX_BYTES = env_int("TMS_DOCUMENT_MAX_BYTES", 15 * 1024 * 1024)
# Delivering a load (its last delivery) needs a POD document on that stop or on the load.
TMS_REQUIRE_POD_ON_DELIVERY = env_bool("TMS_REQUIRE_POD_ON_DELIVERY", False)
TMS_GEOFENCE_EXIT_MARGIN_M = env_int("TMS_GEOFENCE_EXIT_MARGIN_M", 100)
TMS_MAP_TILE_URL = env("TMS_MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")

# --- Analytics: the dashboard, scorecards, maintenance (analytics/) -------------------------------
# The operator's time zone: a date in a dashboard range (and "today", the default range) is a day
# there; the trend series counts per day there.
TMS_TIME_ZONE = env("TMS_TIME_ZONE", "America/Chicago")
try:
    zoneinfo.ZoneInfo(TMS_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
    raise ImproperlyConfigured(f"TMS_TIME_ZONE must be an IANA time zone, got {TMS_TIME_ZONE!r}") from error
# A cached dashboard answer is dropped at once by the events that change its figures; telemetry
# (GPS fixes) and the event counts per topic only refresh when it expires.
TMS_DASHBOARD_CACHE_TTL_S = env_int("TMS_DASHBOARD_CACHE_TTL_S", 60)
# How long an API token's user and roles stay cached (tms.token_cache; changes drop them at once).
TMS_TOKEN_CACHE_TTL_S = env_int("TMS_TOKEN_CACHE_TTL_S", 60)
TMS_DASHBOARD_MAX_RANGE_DAYS = env_int("TMS_DASHBOARD_MAX_RANGE_DAYS", 366)
# Open exceptions list the active drivers whose licence expires within this many days.
TMS_LICENSE_EXPIRY_WARNING_DAYS = env_int("TMS_LICENSE_EXPIRY_WARNING_DAYS", 30)
# CARRIER_PERFORMANCE_UPDATED reports the on-time rate over this many days up to the delivery.
TMS_CARRIER_PERFORMANCE_WINDOW_DAYS = env_int("TMS_CARRIER_PERFORMANCE_WINDOW_DAYS", 30)
# VEHICLE_MAINTENANCE_DUE is emitted each time a vehicle's odometer passes a multiple of this.
TMS_MAINTENANCE_INTERVAL_KM = env_int("TMS_MAINTENANCE_INTERVAL_KM", 40_000)

# --- Metrics (/metrics, tms/monitoring.py) --------------------------------------------------------
# Loopback clients may always read them; others need the token or an address in these networks.
TMS_METRICS_TOKEN = env("TMS_METRICS_TOKEN")
TMS_METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network(net) for net in env_list("TMS_METRICS_ALLOWED_IPS")]

# --- Client addresses (tms/net.py) -----------------------------------------------------------------
# Reverse proxies whose X-Forwarded-For is believed (CIDRs). Empty: the socket peer is the client.
TRUSTED_PROXIES = [ipaddress.ip_network(net, strict=False) for net in env_list("TMS_TRUSTED_PROXIES")]

# --- Logging: one line per record, with the request's correlation id ---------------------------
LOG_LEVEL = env("TMS_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation_id": {"()": "tms.context.CorrelationIdLogFilter"}},
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["correlation_id"],
            "formatter": "line",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # kafka-python logs every connection at INFO.
    "loggers": {"kafka": {"level": "WARNING"}},
}
