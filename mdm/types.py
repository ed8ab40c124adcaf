"""What NanoMDM answers to the enqueue and push API, as dataclasses.

NanoMDM's answer (``api.APIResult``): ``{"command_uuid", "request_type", "no_push", "status": {id:
{"push_result" | "push_error" | "command_error"}}, "push_error", "command_error"}``, HTTP 200 when every id
succeeded, 207 when some failed, 500 when all failed. An id NanoMDM leaves out of ``status`` succeeded (with
``nopush`` only failures are listed); a top-level ``command_error`` means nothing was queued for any id, a
top-level ``push_error`` that no push was sent to the ids without a result of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EnqueueResult", "IdStatus", "PushResult", "merged_status"]


@dataclass(frozen=True)
class IdStatus:
    """The outcome for one enrollment id.

    ``push_result`` is the APNs push id when a push was sent; ``push_error`` / ``command_error`` are NanoMDM's
    error texts. A command with only a ``push_error`` is still queued: the device fetches it at its next
    check-in. ``command_uuid`` is the UUID the command was queued under for this id (an enqueue split into
    several requests uses one UUID per request): match the device's report by it.
    """

    push_result: str | None = None
    push_error: str | None = None
    command_error: str | None = None
    command_uuid: str | None = None

    @property
    def ok(self) -> bool:
        """Neither the enqueue nor the push failed for this id."""
        return self.push_error is None and self.command_error is None

    @property
    def queued(self) -> bool:
        """The command is in NanoMDM's queue for this id (only meaningful for an enqueue)."""
        return self.command_error is None

    @property
    def error(self) -> str | None:
        """The error to record for this id: the enqueue error first, else the push error."""
        return self.command_error or self.push_error


@dataclass(frozen=True)
class PushResult:
    """The answer to ``/v1/push/{ids}`` (merged over every request): HTTP status and a result per id."""

    http_status: int
    ids: dict[str, IdStatus] = field(default_factory=dict)

    @property
    def ok_ids(self) -> list[str]:
        """Ids that succeeded, in request order."""
        return [i for i, s in self.ids.items() if s.ok]

    @property
    def failed_ids(self) -> list[str]:
        """Ids with an error, in request order."""
        return [i for i, s in self.ids.items() if not s.ok]


@dataclass(frozen=True)
class EnqueueResult:
    """The answer to ``PUT /v1/enqueue/{ids}`` (merged over every request the client split it into).

    ``http_status`` is 200 when every id succeeded, 207 when some failed, 500 when all failed, as NanoMDM
    answers one request; ``requests`` counts the HTTP requests it took.

    ``command_uuid`` is the command's own UUID, used for the first request. NanoMDM's SQL storage keeps a
    command UUID once (primary key), so every further request carries the same command under a fresh UUID:
    each id's ``IdStatus.command_uuid`` says which (``command_uuids`` lists them all).
    """

    command_uuid: str
    request_type: str
    http_status: int
    ids: dict[str, IdStatus] = field(default_factory=dict)
    no_push: bool = False
    requests: int = 1

    @property
    def ok_ids(self) -> list[str]:
        """Ids that succeeded, in request order."""
        return [i for i, s in self.ids.items() if s.ok]

    @property
    def failed_ids(self) -> list[str]:
        """Ids with an error, in request order."""
        return [i for i, s in self.ids.items() if not s.ok]

    @property
    def ok(self) -> bool:
        """Every id succeeded."""
        return all(s.ok for s in self.ids.values())

    @property
    def command_uuids(self) -> list[str]:
        """Every command UUID used, in request order (the first is ``command_uuid``)."""
        seen: dict[str, None] = {self.command_uuid: None}
        for status in self.ids.values():
            if status.command_uuid:
                seen.setdefault(status.command_uuid, None)
        return list(seen)


def merged_status(statuses: Sequence[IdStatus]) -> int:
    """The HTTP status NanoMDM would give for these per-id results (200 / 207 / 500)."""
    failed = sum(1 for s in statuses if not s.ok)
    if failed == 0:
        return 200
    return 500 if failed == len(statuses) else 207


def _text(value: Any) -> str | None:
    """NanoMDM marshals errors as strings; keep anything else readable without trusting its type."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def id_statuses(
    data: Mapping[str, Any], ids: Sequence[str], command_uuid: str | None = None
) -> dict[str, IdStatus]:
    """A result per requested id from NanoMDM's JSON answer (see the module docstring for the rules)."""
    raw_status = data.get("status")
    status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
    top_command = _text(data.get("command_error"))
    top_push = _text(data.get("push_error"))
    result: dict[str, IdStatus] = {}
    for enrollment_id in ids:
        entry = status.get(enrollment_id)
        entry = entry if isinstance(entry, Mapping) else {}
        command_error = _text(entry.get("command_error")) or top_command
        push_result = _text(entry.get("push_result"))
        push_error = _text(entry.get("push_error"))
        if push_error is None and push_result is None and top_push is not None and command_error is None:
            push_error = top_push
        result[enrollment_id] = IdStatus(
            push_result=push_result,
            push_error=push_error,
            command_error=command_error,
            command_uuid=command_uuid,
        )
    return result
