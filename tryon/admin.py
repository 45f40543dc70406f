"""Support staff's view of try-on events (read-only: they are the record of what was charged),
and the stores list's "last try-on" column, which only this app can compute (stores may not
import tryon).

The events table holds millions of rows and has no index on created_at alone, so the event list
is built to never scan it: newest first by primary key, a count that stops at COUNT_CAP, and a
date hierarchy drawn from the first and last event instead of Django's Min/Max and DISTINCT
over every row (measured on 1M events: 0.2 ms against 1.4 s, see docs/decisions.md).
"""

import calendar
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db.models import OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.text import capfirst

from genvoris.admin import ReadOnlyAdmin, status_badge, store_column, time_ago
from stores.admin import StoreAdmin
from stores.models import Store
from tryon.models import TryOnEvent

COUNT_CAP = 10_000
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows: an exact COUNT(*) of a store's millions of events is a
    scan on every page view, and nobody pages past the ten-thousandth event (they filter)."""

    @cached_property
    def count(self) -> int:
        return self.object_list[: COUNT_CAP + 1].count()  # type: ignore[attr-defined]

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP

    cap_label = f"{COUNT_CAP:,}"


def _event_bounds() -> tuple[datetime, datetime] | None:
    """The first and last event's times, read at the two ends of the primary-key index."""
    times = TryOnEvent.objects.values_list("created_at", flat=True)
    first, last = times.order_by("id").first(), times.order_by("-id").first()
    if first is None or last is None:
        return None
    return timezone.localtime(min(first, last)), timezone.localtime(max(first, last))


def event_dates(cl: ChangeList) -> dict[str, Any]:
    """The context of admin/date_hierarchy.html, with the links Django's would have, listing every
    year, month or day between the first and last event (some may hold none for this filter)."""
    field = cl.date_hierarchy
    keys = (f"{field}__year", f"{field}__month", f"{field}__day")
    year, month, day = (int(cl.params[k]) if str(cl.params.get(k, "")).isdigit() else None for k in keys)
    bounds = _event_bounds()
    if bounds is None:
        return {"show": False}
    first, last = bounds
    if year is None and first.year == last.year:
        year = first.year
        month = first.month if first.month == last.month else None

    def link(*chosen: int) -> str:
        return str(cl.get_query_string(dict(zip(keys, chosen, strict=False)), [f"{field}__"]))

    if year and month and day:
        back = {"link": link(year, month), "title": _title(date(year, month, 1), "YEAR_MONTH_FORMAT")}
        return {"show": True, "back": back, "choices": [{"title": _title(date(year, month, day), "MONTH_DAY_FORMAT")}]}
    if year and month:
        days = [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]
        days = [d for d in days if first.date() <= d <= last.date()]
        return {
            "show": True,
            "back": {"link": link(year), "title": str(year)},
            "choices": [{"link": link(year, month, d.day), "title": _title(d, "MONTH_DAY_FORMAT")} for d in days],
        }
    if year:
        months = [date(year, m, 1) for m in range(1, 13)]
        months = [m for m in months if (first.year, first.month) <= (m.year, m.month) <= (last.year, last.month)]
        return {
            "show": True,
            "back": {"link": link(), "title": "All dates"},
            "choices": [{"link": link(year, m.month), "title": _title(m, "YEAR_MONTH_FORMAT")} for m in months],
        }
    years = range(first.year, last.year + 1)
    return {"show": True, "back": None, "choices": [{"link": link(y), "title": str(y)} for y in years]}


def _title(day: date, format_name: str) -> str:
    return capfirst(formats.date_format(day, format_name))


@admin.register(TryOnEvent)
class TryOnEventAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "created_at",
        store_column,
        "product_title",
        "product_type",
        "outcome_display",
        "variation_count",
        "generation_time_ms",
        "end_customer",
    ]
    list_filter = ["outcome", "product_type", "store"]
    list_select_related = ["store", "end_customer"]
    search_fields = ["=public_id", "product_title"]
    search_help_text = "Search by event id (tro_…) or product title."
    date_hierarchy = "created_at"
    # Newest first by primary key: ids follow insertion time, and the pk index serves the sort on a
    # table of millions, where there is no index on created_at alone.
    ordering = ["-id"]
    # Counting every event for "N total" would scan the table on each page view.
    show_full_result_count = False
    # Facet counts ("Show counts") would count every event once per filter choice.
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data and "cl" in response.context_data:
            response.context_data["event_dates"] = event_dates(response.context_data["cl"])
        return response

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_display(self, event: TryOnEvent) -> str:
        label = event.get_outcome_display()
        return status_badge(event.outcome, f"{label} ({event.reason})" if event.reason else label)


def _last_tryon_at() -> Subquery:
    # One backward step on the (store, created_at) index per store row, instead of a join that
    # aggregates every event of every listed store.
    newest = TryOnEvent.objects.filter(store=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    return Subquery(newest)


class StoreWithActivityAdmin(StoreAdmin):
    list_display = [*StoreAdmin.list_display[:-1], "last_tryon", StoreAdmin.list_display[-1]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Store]:
        return super().get_queryset(request).annotate(last_tryon_at=_last_tryon_at())

    # "Never" sorts as the oldest on every database (PostgreSQL puts NULLs first when descending).
    @admin.display(description="Last try-on", ordering=Coalesce("last_tryon_at", Value(NEVER)))
    def last_tryon(self, store: Store) -> str:
        return time_ago(store.last_tryon_at)  # type: ignore[attr-defined]


admin.site.unregister(Store)
admin.site.register(Store, StoreWithActivityAdmin)
