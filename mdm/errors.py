"""Exceptions of the NanoMDM client, named after what happened."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .types import EnqueueResult

__all__ = ["MDMAuthError", "MDMError", "MDMUnavailable"]


class MDMError(Exception):
    """NanoMDM (or the way to it) answered with something other than a command result.

    ``status`` is the HTTP status when there was an answer (None for a connection failure), ``message`` a
    short text for people and logs (never the API key).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        self.message = message
        self.status = status
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.status is not None:
            return f"NanoMDM HTTP {self.status}: {self.message}"
        return f"NanoMDM: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(message={self.message!r}, status={self.status!r})"


class MDMAuthError(MDMError):
    """NanoMDM refused the API key (HTTP 401): ``NANOMDM_API_KEY`` does not match NanoMDM's ``-api``."""


class MDMUnavailable(MDMError):
    """NanoMDM could not be reached, timed out or answered 5xx without a result, after the bounded retries.

    From an enqueue, ``unsent_ids`` are the enrollment ids whose request got no answer (after a read timeout
    the command may still have been queued: the outcome is unknown) and, when the enqueue was split into
    several requests and a later one failed, ``partial`` is the merged result of those NanoMDM answered.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        partial: EnqueueResult | None = None,
        unsent_ids: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, status)
        self.partial = partial
        self.unsent_ids = unsent_ids
