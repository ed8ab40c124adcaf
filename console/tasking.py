"""What every Celery task shares: retry on transient database errors (a locked SQLite file, a dropped
PostgreSQL connection) with bounded exponential backoff. Business rules never live here."""

from django.db import InterfaceError, OperationalError

DB_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 5,
}
