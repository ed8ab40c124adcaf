"""The test suite: SQLite unless DATABASE_URL is set (CI sets PostgreSQL and Redis)."""

import os
import tempfile

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = "test-only-secret-key-not-for-production-use-0123456789"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
FIELD_ENCRYPTION_KEY = "Mf0S7t7C6gLk0dmKZr6Yq3u0sNLwq9W8w1ZQ3nM6bZs="
# Tests start their own in-process simulator and pass its URL explicitly.
APPLE_VPP_BASE_URL = "http://127.0.0.1:9/mdm/v2/"
PUBLIC_BASE_URL = ""
# Tasks go to an in-memory broker unless REDIS_URL is set; tests that need them run a real in-thread worker.
CELERY_BROKER_URL = env("REDIS_URL", default="") or "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
# Throttle counters per test process (never shared through Redis between concurrent runs); the API rates are
# high enough for the suite's own traffic, and the throttling tests set their own.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min", "auth_failure": "100000/min"},
}
REQUIRE_SERVICES = env.bool("REQUIRE_SERVICES", default=False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the shared-cache in-memory database: the live server, the in-thread Celery worker and the
    # test thread write concurrently, and shared-cache SQLite answers that with "database table is locked".
    # One file per test process (xdist workers and concurrent runs never share it); Django deletes it after.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"vpp-console-test-{os.getpid()}.sqlite3")
    }

# Each test process has its own queue: with a shared Redis, an in-thread worker of one xdist worker must never
# take tasks enqueued by another (they would run against the other process's test database).
CELERY_TASK_DEFAULT_QUEUE = f"vpp-tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
# ...and every task goes there: the in-thread worker consumes that one queue (config/queues.py's routing is
# tested by calling the router).
CELERY_TASK_ROUTES = ()
VPP_QUEUES = [CELERY_TASK_DEFAULT_QUEUE]
