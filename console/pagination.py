"""Counting a list's rows without reading a million of them (issue 13).

A page of 50 rows costs a few milliseconds; `COUNT(*)` over a million rows costs far more. `row_count`
counts exactly up to `settings.LIST_EXACT_COUNT_LIMIT` rows (a `LIMIT`ed subquery: bounded work, exact for
every small or well-filtered list) and beyond that, on PostgreSQL, takes the planner's estimate of the rows
(`EXPLAIN`, from the statistics ANALYZE keeps), never less than the limit. The pages say "about N"; the API
keeps `count` an integer and says `X-Count-Estimated: true`. Paging beyond an estimate still works: whether
there is a next page is decided by reading one row more than the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet


@dataclass(frozen=True)
class RowCount:
    value: int
    estimated: bool


def row_count(queryset: QuerySet) -> RowCount:
    """The rows of `queryset`: exact up to the limit; above it the planner's estimate on PostgreSQL."""
    limit = settings.LIST_EXACT_COUNT_LIMIT
    counted = queryset.order_by()[: limit + 1].count()
    if counted <= limit:
        return RowCount(counted, estimated=False)
    return _beyond_limit(queryset, counted)


_MARKER = "\x1erow-counts-by-value\x1e"


def row_counts_by(queryset: QuerySet, field: str, values: Iterable[str]) -> dict[str, RowCount]:
    """The rows of `queryset` for each of `values` of `field` (a list's "N per state"), as `row_count` says
    them, in one query: one `LIMIT`ed count per value (each bounded, served by an index on `field` where
    there is one), then the planner's estimate for each value past the limit (one `EXPLAIN` each). A
    `GROUP BY` would read every row of the list on each page view."""
    limit = settings.LIST_EXACT_COUNT_LIMIT
    values = list(values)
    if not values:
        return {}
    base = queryset.order_by()
    # The count's SQL is compiled once, with a marker where the value goes (compiling it per value was a
    # third of the counts' time); if the marker does not come through as one parameter, once per value.
    sql, marked = base.filter(**{field: _MARKER}).values("pk")[: limit + 1].query.sql_with_params()
    if marked.count(_MARKER) == 1:
        compiled: list[tuple[str, Any]] = [
            (sql, [value if p == _MARKER else p for p in marked]) for value in values
        ]
    else:  # pragma: no cover - a field that changes the value it is given
        compiled = [
            base.filter(**{field: value}).values("pk")[: limit + 1].query.sql_with_params()
            for value in values
        ]
    parts, params = [], []
    for sql, value_params in compiled:
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) counted)")  # noqa: S608 (Django's SQL; values are params)
        params.extend(value_params)
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        counts = cursor.fetchone()
    return {
        value: RowCount(counted, estimated=False)
        if counted <= limit
        else _beyond_limit(base.filter(**{field: value}).values("pk"), counted)
        for value, counted in zip(values, counts, strict=True)
    }


def _beyond_limit(queryset: QuerySet, counted: int) -> RowCount:
    """A list longer than the limit: PostgreSQL's estimate (never less than what was counted), elsewhere an
    exact count."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return RowCount(queryset.count(), estimated=False)
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    return RowCount(max(estimate, counted), estimated=True)


class EstimatedPage(Page):
    """A page that knows whether another follows from the extra row it read, not from the count."""

    def __init__(self, object_list, number, paginator, *, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more

    def next_page_number(self) -> int:
        if not self.more:
            raise EmptyPage(self.paginator.error_messages["no_results"])
        return self.number + 1


class EstimatedCountPaginator(Paginator):
    """Django's paginator counting with `row_count`; pages past an estimated last page are still served.

    `ids_first`: a page's rows are read as `WHERE id IN (the page's ids)`, the ids chosen by the same filter
    and order in a subquery (one query still). For an order through a join (licenses by app name) the
    subquery sorts the ids from an index alone, instead of reading every row of the first app to sort them.
    """

    def __init__(self, *args, ids_first: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.ids_first = ids_first

    def rows(self, bottom: int, top: int):
        if self.ids_first and isinstance(self.object_list, QuerySet):
            return self.object_list.filter(pk__in=self.object_list.values("pk")[bottom:top])
        return self.object_list[bottom:top]

    @cached_property
    def row_count(self) -> RowCount:
        if isinstance(self.object_list, QuerySet):
            return row_count(self.object_list)
        return RowCount(len(self.object_list), estimated=False)

    @cached_property
    def count(self) -> int:
        return self.row_count.value

    @property
    def count_is_estimated(self) -> bool:
        return self.row_count.estimated

    def validate_number(self, number):
        if not self.count_is_estimated:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError) as error:
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from error
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if not self.count_is_estimated:
            top = bottom + self.per_page
            if top + self.orphans >= self.count:
                top = self.count
            return self._get_page(self.rows(bottom, top), number, self)
        rows = list(self.rows(bottom, bottom + self.per_page + 1))
        if not rows and number > 1:
            raise EmptyPage(self.error_messages["no_results"])
        return EstimatedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)
