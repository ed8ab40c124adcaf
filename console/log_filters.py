"""Logging filters: expected refusals are one line in the server log, not a traceback."""

from __future__ import annotations

import logging

# A role without write access (403) or an object someone may not see (404) is the console working as meant.
EXPECTED_STATUSES = frozenset({403, 404})


class NoTracebackForExpectedRefusals(logging.Filter):
    """Keeps `django.request`'s "Forbidden"/"Not Found" line and drops the traceback attached to it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in EXPECTED_STATUSES:
            record.exc_info = None
            record.exc_text = None
        return True


def install() -> None:
    """Attach the filter to the `django.request` logger (whatever handlers LOGGING configures)."""
    logger = logging.getLogger("django.request")
    if not any(isinstance(f, NoTracebackForExpectedRefusals) for f in logger.filters):
        logger.addFilter(NoTracebackForExpectedRefusals())
