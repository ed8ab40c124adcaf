"""Building blocks for console pages: the access mixin and the filtered, exportable list page.

A list page is a FilterSet (the same one the API uses), a queryset and a few columns. It renders a table with
pagination, answers htmx requests with just the table, and `?export=csv` with every filtered row as CSV.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import update_wrapper
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext as _
from django.views.generic import ListView

from console.access import check_access
from console.models import Run
from console.pagination import EstimatedCountPaginator
from console.roles import can_change


def add_service_errors(form, error: ValidationError) -> None:
    """Show a service's ValidationError on a form: on the fields it names where the form has them, the rest
    (and errors without fields) on the form as a whole."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


def redirect_back(request, default: str = "/") -> HttpResponseRedirect:
    """Redirect to the form's `next` when it points into this console, else to `default`.

    Django's own check refuses what a `startswith("/")` test lets through: `//evil.example`,
    `/\\evil.example`, other schemes and hosts."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return HttpResponseRedirect(target if allowed else default)


class ConsoleAccessMixin:
    """Every console page: signed in, with a role; `write = True` pages need an administrator."""

    write = False
    breadcrumbs: list[tuple[str, str | None]] = []

    @classmethod
    def as_view(cls, **initkwargs):
        """The access check wraps the whole view, so it runs before anything a subclass does in `setup` or
        `dispatch` (loading an object there must not answer 404 to someone who may not know it exists)."""
        view = super().as_view(**initkwargs)

        def checked(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            check_access(request.user, write=cls(**initkwargs).needs_write(request))
            return view(request, *args, **kwargs)

        return update_wrapper(checked, view)

    def needs_write(self, request) -> bool:
        """Whether the request needs an administrator: a `write` page, or anything but reading."""
        return self.write or request.method not in ("GET", "HEAD", "OPTIONS")

    def get_breadcrumbs(self) -> list[tuple[str, str | None]]:
        return list(self.breadcrumbs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["breadcrumbs"] = self.get_breadcrumbs()
        context["can_change"] = can_change(self.request.user)
        return context


@dataclass(frozen=True)
class Column:
    """One table column: a label, and how to read the cell (a dotted attribute path or a callable).

    The CSV export reads `csv_value` where the page shows something else (a date without "(364 days left)"),
    and a choice field (`"state"`) by its label in the reader's language, never its code (B6).
    """

    label: Any
    value: str | Callable[[Any], Any]
    link: Callable[[Any], str] | None = None
    order_by: str | None = None
    csv_only: bool = False
    template: str | None = None
    csv_value: str | Callable[[Any], Any] | None = None

    def read(self, obj) -> Any:
        return _read(obj, self.value)

    def export(self, obj) -> Any:
        """The cell as the CSV export writes it."""
        if self.csv_value is not None:
            return _read(obj, self.csv_value)
        if isinstance(self.value, str):
            *path, last = self.value.split(".")
            owner = _read(obj, ".".join(path)) if path else obj
            display = getattr(owner, f"get_{last}_display", None)
            if callable(display):
                return display()
        return self.read(obj)


def choice_label(choices, value) -> Any:
    """What `get_<field>_display()` says for a choice, in the active language, at the cost of one lookup
    (Django's builds a dict of every choice, translating each label, on each call: per row and column)."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _read(obj, value: str | Callable[[Any], Any]) -> Any:
    if callable(value):
        return value(obj)
    current = obj
    for part in value.split("."):
        current = getattr(current, part, None)
        if current is None:
            return ""
        if callable(current) and not hasattr(current, "all"):
            current = current()
    return current


def _cell_text(value) -> str:
    """A cell's value as `{{ value|default_if_none:"" }}` renders it: local time, localized, escaped."""
    if value is None:
        return ""
    if type(value) is not str:
        value = localize(template_localtime(value))
        if hasattr(value, "__html__"):
            return value.__html__()
    return html.escape(str(value))


def _table_row(obj, columns: list[Column], labels: list[str]) -> list[tuple]:
    """One row for console/partials/table.html, as (html, value, link, template, label) segments: `html` is
    the finished `<td>`s up to the next cell with a template, which the table renders with the page's
    context (`value`, `link`, `label`, `obj`), or none. The table's 50 × columns cells were the page's main
    cost when each went through the template engine."""
    segments = []
    done = []
    for column, label in zip(columns, labels, strict=True):
        value = column.read(obj)
        link = column.link(obj) if column.link else None
        if column.template:
            segments.append((mark_safe("".join(done)), value, link, column.template, label))  # noqa: S308 (escaped)
            done = []
            continue
        text = _cell_text(value)
        if link:
            text = f'<a href="{conditional_escape(link)}">{text}</a>'
        done.append(f'<td data-label="{label}">{text}</td>')
    if done:
        segments.append((mark_safe("".join(done)), None, None, None, None))  # noqa: S308 (escaped above)
    return segments


class _Echo:
    def write(self, value):
        return value


class FilteredListView(ConsoleAccessMixin, ListView):
    """A filterable, sortable, paginated table page with CSV export of the filtered rows."""

    filterset_class = None
    columns: list[Column] = []
    paginate_by = 50
    paginator_class = EstimatedCountPaginator
    template_name = "console/list.html"
    table_template = "console/partials/table.html"
    title: Any = ""
    csv_filename = "export.csv"
    default_ordering: tuple[str, ...] = ()
    actions_template: str | None = None
    filter_template = "console/partials/filters.html"
    # Orderings (column `order_by`s) whose pages read their ids first (console.pagination: an order through
    # a join, served by an index on the joined key and the id).
    ids_first_orderings: tuple[str, ...] = ()

    def get_base_queryset(self):
        return super().get_queryset()

    def get_queryset(self):
        queryset = self.get_base_queryset()
        self.filterset = None
        if self.filterset_class is not None:
            self.filterset = self.filterset_class(
                self.request.GET or None, queryset=queryset, request=self.request
            )
            if self.filter_errors():
                # Like the API's 400: an invalid filter shows its error and no rows, never every row.
                return queryset.none()
            queryset = self.filterset.qs
        ordering = self.request.GET.get("ordering", "")
        allowed = {c.order_by for c in self.columns if c.order_by}
        if ordering.lstrip("-") in allowed:
            # The tie-breaker follows the column's direction, so one index (column, id) serves both.
            queryset = queryset.order_by(ordering, "-pk" if ordering.startswith("-") else "pk")
        elif self.default_ordering:
            queryset = queryset.order_by(*self.default_ordering)
        return queryset

    def get_paginator(self, queryset, per_page, orphans=0, allow_empty_first_page=True, **kwargs):
        ordering = self.request.GET.get("ordering", "").lstrip("-")
        kwargs.setdefault("ids_first", bool(ordering) and ordering in self.ids_first_orderings)
        return super().get_paginator(queryset, per_page, orphans, allow_empty_first_page, **kwargs)

    def filter_errors(self) -> list[str]:
        """The filter values that are not valid, as "label: message" lines (empty when all are valid)."""
        filterset = getattr(self, "filterset", None)
        if filterset is None or not filterset.is_bound or filterset.is_valid():
            return []
        form = filterset.form
        return [
            f"{form.fields[name].label if name in form.fields else _('Filter')}: {message}"
            for name, messages in form.errors.items()
            for message in messages
        ]

    def get(self, request, *args, **kwargs):
        if request.GET.get("export") == "csv":
            return self.export_csv()
        response = super().get(request, *args, **kwargs)
        # htmx swaps only 2xx answers into the table: the partial carries the error for it.
        if self.filter_errors() and not getattr(request, "htmx", False):
            response.status_code = 400
        return response

    def get_template_names(self):
        if getattr(self.request, "htmx", False) and not self.request.htmx.boosted:
            return [self.table_template]
        return [self.template_name]

    def export_csv(self) -> HttpResponse | StreamingHttpResponse:
        queryset = self.get_queryset()
        errors = self.filter_errors()
        if errors:
            body = "\n".join(errors) + "\n"
            return HttpResponse(body, content_type="text/plain; charset=utf-8", status=400)
        columns = self.columns
        rows = ([c.export(obj) for c in columns] for obj in queryset.iterator(chunk_size=2000))
        return csv_response([c.label for c in columns], rows, self.csv_filename)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        columns = [c for c in self.columns if not c.csv_only]
        labels = [conditional_escape(c.label) for c in columns]  # translated once per page, not per row
        query = self.request.GET.copy()
        query.pop("page", None)
        query.pop("ordering", None)
        rows = [_table_row(obj, columns, labels) for obj in context["object_list"]] if columns else []
        context.update(
            title=self.title,
            filterset=self.filterset,
            filter_errors=self.filter_errors(),
            columns=columns,
            objects_and_rows=list(zip(context["object_list"], rows, strict=True)),
            ordering=self.request.GET.get("ordering", ""),
            querystring=query.urlencode(),
            actions_template=self.actions_template,
            table_template=self.table_template,
            filter_template=self.filter_template,
            live=self.is_live(context["object_list"]),
        )
        return context

    def is_live(self, objects) -> bool:
        """Whether the table refreshes itself: by default while a run on the page is queued or running."""
        return any(isinstance(obj, Run) and obj.is_active for obj in objects)


def csv_response(header: list, rows: Iterable[list], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download: the header, then each row, every cell readable (`_csv_cell`)."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow([str(label) for label in header])
        for row in rows:
            yield writer.writerow([_csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, datetime | date):
        # ISO 8601 (2026-12-02T09:30:00+00:00), what spreadsheets and scripts read without guessing.
        return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        # JSON, not Python's repr: readable by people and by the next program.
        return json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)
    # Neutralise spreadsheet formulas (CSV injection: OWASP's leading characters); numbers stay numbers.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not text.lstrip("-").replace(".", "", 1).isdigit():
        text = "'" + text
    return text
