"""The registry of run kinds (see console.runs for how to add one). Holds no models, so `console.models` can
read labels from it without an import cycle."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise


@dataclass(frozen=True)
class RunKind:
    """One kind of run: its label, the work the runner calls, and how its numbers are shown."""

    name: str
    label: str | Promise
    # work(run) does the run; None for kinds recorded inline with `console.runs.track` (e.g. an import).
    work: Callable[[Any], Any] | None = None
    # Labels of the kind-specific numbers the work writes to `run.counts`, in the order pages show them.
    count_labels: Mapping[str, str | Promise] = field(default_factory=dict)
    # A run of this kind lost with its worker is started again (same kind, target and parameters).
    requeue_when_lost: bool = False
    # The Run proxy the work expects (e.g. tokens.models.SyncRun); None for console.models.Run.
    model: Any = None


_KINDS: dict[str, RunKind] = {}


def register(
    name: str,
    *,
    label: str | Promise,
    work: Callable[[Any], Any] | None = None,
    count_labels: Mapping[str, str | Promise] | None = None,
    requeue_when_lost: bool = False,
    model: Any = None,
) -> RunKind:
    """Register a run kind (call it from the owning app's `AppConfig.ready`). Registering a name twice with
    different work is a programming error."""
    kind = RunKind(
        name=name,
        label=label,
        work=work,
        count_labels=dict(count_labels or {}),
        requeue_when_lost=requeue_when_lost,
        model=model,
    )
    existing = _KINDS.get(name)
    if existing is not None and existing.work is not work:
        raise ValueError(f"run kind {name!r} is already registered")
    _KINDS[name] = kind
    return kind


def get(name: str) -> RunKind:
    """The registered kind; raises LookupError for an unknown name."""
    try:
        return _KINDS[name]
    except KeyError:
        raise LookupError(f"no run kind {name!r} is registered") from None


def label(name: str) -> str | Promise:
    kind = _KINDS.get(name)
    return kind.label if kind is not None else name


def names() -> set[str]:
    return set(_KINDS)


def choices() -> list[tuple[str, str | Promise]]:
    """(name, label) of every registered kind, for filters."""
    return [(k.name, k.label) for k in _KINDS.values()]
