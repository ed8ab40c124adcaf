"""Typed exceptions for Apple's App and Book Management API (v2).

Every error carries Apple's ``errorNumber`` (``number``), ``errorMessage`` (``message``), the HTTP status and
the ``errorInfo`` dict when Apple sent one. ``error_for()`` maps a parsed error body and HTTP status to the
most specific class; callers catch what happened (``TokenExpired``, ``RateLimited``, ``NotEnoughLicenses``),
not numbers.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppleError",
    "BadRequest",
    "DataChangedDuringRead",
    "NotEnoughLicenses",
    "RateLimited",
    "ServiceUnavailable",
    "TokenError",
    "TokenExpired",
    "TokenInvalid",
    "TokenRevoked",
    "TransportError",
    "UserNotFound",
    "error_for",
]


class AppleError(Exception):
    """Base class: Apple (or the way to Apple) answered with an error."""

    def __init__(
        self,
        number: int | None,
        message: str,
        http_status: int | None = None,
        error_info: dict[str, Any] | None = None,
    ) -> None:
        self.number = number
        self.message = message
        self.http_status = http_status
        self.error_info = error_info
        # Write calls set this to the EventResponses of the requests accepted before the failing one.
        self.events: tuple[Any, ...] = ()
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.number is not None:
            return f"Apple error {self.number}: {self.message}"
        if self.http_status is not None:
            return f"Apple HTTP {self.http_status}: {self.message}"
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(number={self.number!r}, message={self.message!r}, "
            f"http_status={self.http_status!r})"
        )

    def __reduce__(self):  # keep exceptions picklable (Celery results, multiprocessing)
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[AppleError], state: dict[str, Any]) -> AppleError:
    exc = cls.__new__(cls)
    Exception.__init__(exc)
    exc.__dict__.update(state)
    exc.args = (str(exc),)
    return exc


class TokenError(AppleError):
    """The sToken cannot be used any more; never retried. Base of the three token errors."""


class TokenExpired(TokenError):
    """9621: the token has expired; a new one must be downloaded from Apple Business/School Manager."""


class TokenRevoked(TokenError):
    """9625: Apple revoked the token (usually because a newer one was downloaded)."""


class TokenInvalid(TokenError):
    """9622 (unknown token, often with HTTP 200), 9722 (bad Authorization header), 9601 (login required)."""


class _Retryable(AppleError):
    """Errors worth retrying; ``retry_after`` is Apple's Retry-After in seconds, when given."""

    def __init__(
        self,
        number: int | None,
        message: str,
        http_status: int | None = None,
        error_info: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(number, message, http_status, error_info)


class RateLimited(_Retryable):
    """9646 or HTTP 429: too many requests for this organisation; back off and retry."""


class ServiceUnavailable(_Retryable):
    """HTTP 5xx, 9729 (temporarily unavailable), 9644 (maintenance), 9603 (internal error)."""


class TransportError(ServiceUnavailable):
    """Apple could not be reached: connection error, timeout, or a body that is not JSON."""


class NotEnoughLicenses(AppleError):
    """9709: not enough licenses available (usually an asynchronous event failure)."""


class UserNotFound(AppleError):
    """9609: the registered user (clientUserId) was not found."""


class BadRequest(AppleError):
    """Any other error number: the request itself was wrong; never retried."""


class DataChangedDuringRead(AppleError):
    """A paged read kept seeing ``versionId`` change and gave up after the allowed restarts."""


TOKEN_EXPIRED = 9621
TOKEN_REVOKED = 9625
TOKEN_INVALID = frozenset({9622, 9722, 9601})
RATE_LIMITED = 9646
UNAVAILABLE = frozenset({9729, 9644, 9603})
NOT_ENOUGH_LICENSES = 9709
USER_NOT_FOUND = 9609


def error_for(
    number: int | None,
    message: str | None,
    *,
    http_status: int | None = None,
    error_info: dict[str, Any] | None = None,
    retry_after: float | None = None,
) -> AppleError:
    """Build the most specific ``AppleError`` for an error number and/or HTTP status.

    Token error numbers win over the HTTP status (Apple sends 9622 with HTTP 200). 9646 or HTTP 429 is
    ``RateLimited``; 9729/9644/9603 or any HTTP 5xx is ``ServiceUnavailable``; 401 without a number is
    ``TokenInvalid``; anything else is ``BadRequest``.
    """
    text = message or "Unknown error"
    if number == TOKEN_EXPIRED:
        return TokenExpired(number, text, http_status, error_info)
    if number == TOKEN_REVOKED:
        return TokenRevoked(number, text, http_status, error_info)
    if number in TOKEN_INVALID:
        return TokenInvalid(number, text, http_status, error_info)
    if number == RATE_LIMITED or http_status == 429:
        return RateLimited(number, text, http_status, error_info, retry_after)
    if number in UNAVAILABLE or (http_status is not None and http_status >= 500):
        return ServiceUnavailable(number, text, http_status, error_info, retry_after)
    if number == NOT_ENOUGH_LICENSES:
        return NotEnoughLicenses(number, text, http_status, error_info)
    if number == USER_NOT_FOUND:
        return UserNotFound(number, text, http_status, error_info)
    if number is None and http_status == 401:
        return TokenInvalid(number, text, http_status, error_info)
    return BadRequest(number, text, http_status, error_info)
