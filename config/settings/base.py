"""Settings shared by every environment; everything configurable comes from the environment (.env.example)."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(str(BASE_DIR / ".env"))

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "console",
    "vpp",
    "tokens",
    "apps",
    "directory",
    "assignments",
    "applesync",
    "home",
    "deployment",
    "reports",
    "scim",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp) in every environment: scripts and styles only from our own static files
# (no inline <script>, no on*= handlers, no style= attributes), nothing framed, forms post only here.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.console",
                "monitoring.context_processors.alert_banners",
            ],
        },
    }
]

# SQLite (a file under var/) unless DATABASE_URL says otherwise.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share one file: WAL and IMMEDIATE transactions avoid lock errors.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in lock-out (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one user name from one
# address, that pair is locked out for LOGIN_LOCKOUT_MINUTES; administrators see and lift lock-outs on the
# console's "Sign-in lock-outs" page.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- REST API ---------------------------------------------------------------------------------------------
# Lists count their rows exactly up to this many; beyond it (PostgreSQL) they take the planner's estimate and
# say "about N" (console.pagination, issue 13): COUNT(*) over a million licenses costs more than the page.
LIST_EXACT_COUNT_LIMIT = 10_000

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "console.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["console.permissions.ConsolePermission"],
    "DEFAULT_PAGINATION_CLASS": "console.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "console.api.FilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "console.api.exception_handler",
    # Per user (signed in) and per address (anonymous); failed credentials are throttled per address in the
    # exception handler (authentication fails before DRF's own throttles run).
    "DEFAULT_THROTTLE_CLASSES": [
        "console.throttling.AnonThrottle",
        "console.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="60/min"),
        "user": env("API_THROTTLE_USER", default="1200/min"),
        "auth_failure": env("API_THROTTLE_AUTH_FAILURE", default="20/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# API keys (`Authorization: Token <key>`) are stored as SHA-512 digests (django-rest-knox) in console.ApiKey.
# They do not expire: a person revokes them (API keys page) when a script no longer needs one.
KNOX_TOKEN_MODEL = "console.ApiKey"
# knox's own migrations create its default token table even when KNOX_TOKEN_MODEL swaps it out; that unused
# table's foreign key to auth_user breaks PostgreSQL's TRUNCATE between tests. Without migrations the
# swapped-out model gets no table at all.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {"TOKEN_TTL": None, "AUTH_HEADER_PREFIX": "Token", "AUTO_REFRESH": False}
SPECTACULAR_SETTINGS = {
    "TITLE": "VPP Console API",
    "DESCRIPTION": "Apple Apps and Books for Organizations (VPP): tokens, apps, assignments and licenses.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs need a signed-in user with a role, like every other API resource.
    "SERVE_PERMISSIONS": ["console.permissions.ConsolePermission"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "console.openapi.document_error_responses",
        "console.openapi.document_query_parameters",
    ],
}

# Throttle counters live in the cache: shared through Redis when there is one, else per process.
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- Celery -----------------------------------------------------------------------------------------------
# With neither REDIS_URL nor CELERY_BROKER_URL set, an embedded broker (kombu's filesystem transport under
# var/broker) lets a real worker and beat run with no server to install.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    (BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A message a worker took but never acknowledged (the worker died) is delivered again after this long.
    # It must outlast the longest task (and the countdown of a polling task), or a slow task would run twice;
    # runs lost with their worker are recovered much sooner by the heartbeat sweep below.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 300}

# Runs (console.runs): a running run beats its heartbeat at least every RUN_HEARTBEAT_SECONDS; one whose
# heartbeat is older than RUN_LOST_AFTER_SECONDS lost its worker and is ended (a sync is started again).
RUN_HEARTBEAT_SECONDS = env.int("RUN_HEARTBEAT_SECONDS", default=30)
RUN_LOST_AFTER_SECONDS = env.int("RUN_LOST_AFTER_SECONDS", default=150)
# How often beat's sweep looks for lost runs.
RUN_SWEEP_SECONDS = env.int("RUN_SWEEP_SECONDS", default=60)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Named queues (config/queues.py has the routing table; README, Running in production, the formation):
# interactive work ("Sync now" of a small token, the heartbeat) and webhooks never wait behind bulk syncs,
# license runs or deployment sends. One worker with `-Q` naming them all serves a single machine.
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES: tuple[str, ...] = ("config.queues.route_task",)
VPP_QUEUES = ["interactive", "webhooks", "sync", "licenses", "deploy", "default"]
# "Sync now" of a token whose last sync saw at most this many assignments runs on the interactive queue.
VPP_INTERACTIVE_SYNC_MAX_ASSIGNMENTS = env.int("VPP_INTERACTIVE_SYNC_MAX_ASSIGNMENTS", default=20000)

# /healthz: beat's heartbeat task runs every HEARTBEAT_SECONDS; older than HEALTHZ_BEAT_MAX_AGE_SECONDS means
# beat (or every worker serving `interactive`) stopped. A queued task older than HEALTHZ_QUEUE_MAX_AGE_SECONDS
# means its queue is starved (no worker, or workers too few). Both answer 503.
HEARTBEAT_SECONDS = env.int("HEARTBEAT_SECONDS", default=60)
HEALTHZ_BEAT_MAX_AGE_SECONDS = env.int("HEALTHZ_BEAT_MAX_AGE_SECONDS", default=300)
HEALTHZ_QUEUE_MAX_AGE_SECONDS = env.int("HEALTHZ_QUEUE_MAX_AGE_SECONDS", default=900)

# Optional Prometheus metrics at /metrics (console/metrics.py): request latency (django-prometheus), Celery
# task durations, queue depth and beat's heartbeat age. Only from these addresses, or with the bearer token.
PROMETHEUS_METRICS = env.bool("PROMETHEUS_METRICS", default=False)
PROMETHEUS_METRICS_ALLOWED_IPS = env.list("PROMETHEUS_METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
PROMETHEUS_METRICS_TOKEN = env("PROMETHEUS_METRICS_TOKEN", default="")
if PROMETHEUS_METRICS:
    INSTALLED_APPS.append("django_prometheus")
    MIDDLEWARE.insert(0, "django_prometheus.middleware.PrometheusBeforeMiddleware")
    MIDDLEWARE.append("django_prometheus.middleware.PrometheusAfterMiddleware")

# Alerts (B5, README "Alerts and the dashboard"): licenses are low at LICENSES_LOW_PERCENT used; an app alerts
# at ALERT_INSTALL_FAILURES failed installs; the optional webhook gets each notice signed with
# ALERT_WEBHOOK_SECRET (HMAC-SHA256), retried after each of ALERT_DELIVERY_BACKOFF seconds.
ALERTS_EVALUATE_MINUTES = env.int("ALERTS_EVALUATE_MINUTES", default=5)
LICENSES_LOW_PERCENT = env.int("LICENSES_LOW_PERCENT", default=80)
ALERT_INSTALL_FAILURES = env.int("ALERT_INSTALL_FAILURES", default=5)
ALERT_WEBHOOK_URL = env("ALERT_WEBHOOK_URL", default="")
ALERT_WEBHOOK_SECRET = env("ALERT_WEBHOOK_SECRET", default="")
ALERT_WEBHOOK_TIMEOUT = env.float("ALERT_WEBHOOK_TIMEOUT", default=10.0)
ALERT_DELIVERY_BACKOFF = [
    int(s) for s in env.list("ALERT_DELIVERY_BACKOFF", default=["30", "120", "600", "1800", "7200"])
]
USAGE_SNAPSHOT_DAYS = 400

# The twice-daily sync (T6) and the daily checks. Hours are configurable, e.g. VPP_SYNC_HOURS=6,18.
VPP_SYNC_HOURS = env("VPP_SYNC_HOURS", default="5,17")
CELERY_BEAT_SCHEDULE = {
    "sync-all-tokens": {
        "task": "tokens.tasks.sync_all_tokens",
        "schedule": crontab(minute=0, hour=VPP_SYNC_HOURS),
        "kwargs": {"trigger": "schedule"},
    },
    "check-token-states": {
        "task": "tokens.tasks.check_all_tokens",
        "schedule": crontab(minute=30, hour=4),
    },
    # /healthz reads the age of the last heartbeat to tell a stopped beat.
    "heartbeat": {
        "task": "console.tasks.heartbeat",
        "schedule": float(HEARTBEAT_SECONDS),
    },
    # Runs whose worker died: ended as lost, syncs started again (console.runs.sweep_lost).
    "sweep-lost-runs": {
        "task": "console.tasks.sweep_lost_runs",
        "schedule": float(RUN_SWEEP_SECONDS),
    },
    # Nightly reconciliation of Apple's assignments with our licenses (B2).
    "reconcile-licenses": {
        "task": "assignments.tasks.reconcile_all",
        "schedule": crontab(minute=15, hour=3),
    },
    # Deployment through NanoMDM: commands nobody answered are pushed again, then failed (D5), and the daily
    # inventory of every enrolled device (M3).
    "mdm-unanswered-commands": {
        "task": "deployment.tasks.retry_unanswered",
        "schedule": crontab(minute="*/5"),
    },
    # Alerts (B5): NanoMDM probed and every condition evaluated (also after each run ends); the day's license
    # figures recorded for the dashboard's history chart.
    "evaluate-alerts": {
        "task": "monitoring.tasks.evaluate_alerts",
        "schedule": crontab(minute=f"*/{ALERTS_EVALUATE_MINUTES}"),
    },
    "snapshot-usage": {
        "task": "monitoring.tasks.snapshot_usage",
        "schedule": crontab(minute=55),
    },
    "mdm-daily-inventory": {
        "task": "deployment.tasks.daily_inventory",
        "schedule": crontab(minute=45, hour=2),
    },
}

# --- The console ------------------------------------------------------------------------------------------
APPLE_VPP_BASE_URL = env("APPLE_VPP_BASE_URL", default="https://vpp.itunes.apple.com/mdm/v2/")
# Where Apple can reach this console (for notifications); unset means no notifications, syncs only.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="")
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default="")
VPP_MAX_TOKENS = env.int("VPP_MAX_TOKENS", default=256)
VPP_MDM_NAME = env("VPP_MDM_NAME", default="VPP Console")
# This installation's identity at Apple: the mdmInfo id of each token is derived from it and the location, so
# a claim left at Apple by an upload that failed afterwards (or by a deleted token) is recognised as ours.
# Empty: derived from DJANGO_SECRET_KEY (set it explicitly before rotating that key).
VPP_INSTALLATION_ID = env("VPP_INSTALLATION_ID", default="")
# Seconds an administrator's page waits for one Apple answer (token upload, renew, take control).
VPP_INTERACTIVE_TIMEOUT = env.float("VPP_INTERACTIVE_TIMEOUT", default=10.0)
# Seconds background work (syncs, license runs) waits for one Apple answer before retrying.
VPP_REQUEST_TIMEOUT = env.float("VPP_REQUEST_TIMEOUT", default=10.0)
VPP_FULL_SYNC_EVERY_HOURS = env.int("VPP_FULL_SYNC_EVERY_HOURS", default=24 * 7)

# Deployment through NanoMDM (mdm-nanomdm.md). Unset NANOMDM_URL: the console manages licenses only.
NANOMDM_URL = env("NANOMDM_URL", default="")
NANOMDM_API_KEY = env("NANOMDM_API_KEY", default="")
# Verifies the webhook's X-Hmac-Signature; required in production when NANOMDM_URL is set (deployment.E001).
NANOMDM_WEBHOOK_HMAC_KEY = env("NANOMDM_WEBHOOK_HMAC_KEY", default="")
# D1/B1: a device that checks out (MDM profile removed) loses its device licenses.
NANOMDM_CHECKOUT_RECLAIMS_LICENSES = env.bool("NANOMDM_CHECKOUT_RECLAIMS_LICENSES", default=True)
# A command with no answer after this many minutes is pushed again, at most MDM_COMMAND_MAX_ATTEMPTS times in
# all, then failed ("the device did not answer").
MDM_COMMAND_TIMEOUT_MINUTES = env.int("MDM_COMMAND_TIMEOUT_MINUTES", default=60)
MDM_COMMAND_MAX_ATTEMPTS = env.int("MDM_COMMAND_MAX_ATTEMPTS", default=3)
# Enrollment ids per enqueue request (one command UUID each; at most 200, and fewer for long ids).
MDM_ENQUEUE_BATCH_SIZE = env.int("MDM_ENQUEUE_BATCH_SIZE", default=200)
# Seconds between the ManagedApplicationList checks after an install was acknowledged (bounded backoff).
MDM_INVENTORY_BACKOFF = [
    int(s) for s in env.list("MDM_INVENTORY_BACKOFF", default=["10", "30", "120", "600", "1800"])
]


def email_settings(url: str) -> dict[str, Any]:
    """Django's EMAIL_* settings from one URL (django-environ's `email_url`): `smtp+tls://user:pw@host:587`,
    `smtp+ssl://…:465`, `smtp://host:25`, `consolemail://`, `filemail:///path`, `memorymail://`. Parts the URL
    leaves out keep Django's defaults; `?timeout=10` sets EMAIL_TIMEOUT."""
    config = env.email_url_config(url)
    options = config.pop("OPTIONS", {})
    if "TIMEOUT" in options:
        config["EMAIL_TIMEOUT"] = int(options.pop("TIMEOUT"))
    if options:
        raise ImproperlyConfigured(f"EMAIL_URL: unknown option(s) {', '.join(sorted(options)).lower()}")
    return {name: value for name, value in config.items() if value not in (None, "")}


# Alerts (token expiry, licenses low, failed syncs) go by email; the whole configuration is one URL.
globals().update(email_settings(env("EMAIL_URL", default="") or "smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="vpp-console@localhost")
SERVER_EMAIL = env("SERVER_EMAIL", default="") or DEFAULT_FROM_EMAIL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}


# SCIM 2.0 service provider at /scim/v2/ (django-scim2) for Entra ID and Okta: see scim/ and docs/scim.md.
SCIM_SERVICE_PROVIDER = {
    "USER_MODEL_GETTER": "scim.filters._user_model",
    "GROUP_MODEL": "directory.models.Group",
    "USER_ADAPTER": "scim.adapters.ScimUser",
    "GROUP_ADAPTER": "scim.adapters.ScimGroup",
    "USER_FILTER_PARSER": "scim.filters.UserFilterQuery",
    "GROUP_FILTER_PARSER": "scim.filters.GroupFilterQuery",
    "SERVICE_PROVIDER_CONFIG_MODEL": "scim.views.ServiceProviderConfig",
    "BASE_LOCATION_GETTER": "scim.auth.base_location",
    "AUTH_CHECK_MIDDLEWARE": "scim.auth.BearerTokenAuth",
    "SCHEMAS_GETTER": "scim.schemas.schemas_getter",
    "NETLOC": "localhost",  # required by django-scim2; locations are built from the request instead
    "AUTHENTICATION_SCHEMES": [{"type": "oauthbearertoken", "name": "Bearer token", "primary": True}],
}
