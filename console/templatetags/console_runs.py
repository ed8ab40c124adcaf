"""Template helpers of run pages: `{{ run.duration|duration }}`."""

from django import template

from console import run_kinds
from console.durations import duration_text

register = template.Library()


@register.filter
def duration(value) -> str:
    return duration_text(value)


@register.simple_tag
def run_counts(run) -> list[tuple[str, int]]:
    """(label, number) of the kind-specific counts of `run`, in the order its kind registered them."""
    kind_labels = run_kinds.get(run.kind).count_labels if run.kind in run_kinds.names() else {}
    shown = [(str(label), int(run.counts.get(name, 0))) for name, label in kind_labels.items()]
    return [(label, value) for label, value in shown if value or run.is_finished]
