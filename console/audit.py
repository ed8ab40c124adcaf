"""Recording state changes in the audit log. Services call `record` inside their transaction."""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import models

from console.messages import Message
from console.models import AuditEntry

SYSTEM = "system"
# Never copied into the log, whatever a caller passes.
_SECRET_FIELDS = {"token_content", "notification_secret", "password", "key", "digest"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Message):  # code and parameters: the log page says it in the reader's language
        return value.as_json()
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def object_name(obj: models.Model) -> Message | str:
    """What the log calls `obj`: its `audit_name()` (a Message whose translatable words, such as a run's kind,
    are said in the reader's language) where the model has one, else `str(obj)` (names people typed)."""
    name = getattr(obj, "audit_name", None)
    return name() if callable(name) else str(obj)[:300]


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The concrete field values of `obj` (foreign keys as ids), without secrets."""
    names = fields or [f.attname for f in obj._meta.concrete_fields]
    return {n: _jsonable(getattr(obj, n)) for n in names if n not in _SECRET_FIELDS}


def record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: Message | str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Write one audit entry. `actor` is a user, or None for the system (tasks, Apple notifications)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or object_name(obj)
    if before:
        before = {k: v for k, v in _jsonable(before).items() if k not in _SECRET_FIELDS}
    if after:
        after = {k: v for k, v in _jsonable(after).items() if k not in _SECRET_FIELDS}
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEntry.objects.create(
        actor=actor if is_user else None,
        actor_name=actor.get_username() if is_user else SYSTEM,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        before=before,
        after=after,
    )


def record_many(
    *, actor, action: str, entries: Iterable[tuple[models.Model, dict | None, dict | None]]
) -> list[AuditEntry]:
    """One audit entry per (object, before, after), written in bulk: imports of thousands of rows."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    rows = []
    for obj, before, after in entries:
        if before:
            before = {k: v for k, v in _jsonable(before).items() if k not in _SECRET_FIELDS}
        if after:
            after = {k: v for k, v in _jsonable(after).items() if k not in _SECRET_FIELDS}
        rows.append(
            AuditEntry(
                actor=actor if is_user else None,
                actor_name=actor.get_username() if is_user else SYSTEM,
                action=action,
                object_type=obj._meta.label_lower,
                object_id=str(obj.pk),
                object_repr=object_name(obj),
                before=before,
                after=after,
            )
        )
    return AuditEntry.objects.bulk_create(rows, batch_size=500)


def changed(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values differ, for compact before/after pairs."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}
