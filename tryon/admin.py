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
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import formats, timezone
from django.utils.html import format_html
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


# What a blocked try-on's `reason` means (set for end_customer_quota refusals only).
REASON_LABELS = {
    "quota_exhausted": "quota used up",
    "no_plan": "no plan",
    "paused": "shopper paused",
    "cancelled": "shopper cancelled",
}

RESULTS = {
    TryOnEvent.Outcome.DEBITED: "Shown to the shopper; 1 credit charged.",
    TryOnEvent.Outcome.FAILED: "The generation failed; nothing was charged.",
    TryOnEvent.Outcome.CREDIT_LIMIT_REACHED: "Refused with 402: the store had no credits. Not shown, not charged.",
    TryOnEvent.Outcome.END_CUSTOMER_QUOTA: "Refused with 402 by the shopper's quota. Not shown, not charged.",
}


class PublicIdFilter(admin.SimpleListFilter):
    """A filter typed in, not picked from a list: one link per store (or shopper) would not scale,
    and Django's related filters read the distinct values of the whole events table."""

    template = "admin/tryon/tryonevent/text_filter.html"
    lookup: tuple[str, ...] = ()
    placeholder = ""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[TryOnEvent]) -> QuerySet[TryOnEvent]:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        match = Q()
        for field in self.lookup:
            match |= Q(**{field: value})
        return queryset.filter(match)

    def choices(self, changelist: ChangeList) -> Any:
        others = [
            (name, value)
            for name, values in changelist.get_filters_params().items()
            if name != self.parameter_name
            for value in (values if isinstance(values, list) else [values])
        ]
        query = changelist.params.get(SEARCH_VAR, "")
        if query:
            others.append((SEARCH_VAR, query))
        yield {
            "value": self.value() or "",
            "others": others,
            "placeholder": self.placeholder,
            "reset": changelist.get_query_string(remove=[str(self.parameter_name)]),
        }


class StoreFilter(PublicIdFilter):
    title = "store"
    parameter_name = "store"
    lookup = ("store__public_id",)
    placeholder = "st_…"


class CustomerFilter(PublicIdFilter):
    title = "customer"
    parameter_name = "customer"
    lookup = ("end_customer__public_id", "end_customer__external_id")
    placeholder = "ec_… or the store's own id"


class ReasonFilter(admin.SimpleListFilter):
    title = "reason blocked"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(value, capfirst(label)) for value, label in REASON_LABELS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[TryOnEvent]) -> QuerySet[TryOnEvent]:
        return queryset.filter(reason=self.value()) if self.value() else queryset


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
    list_filter = [StoreFilter, CustomerFilter, "outcome", ReasonFilter, "product_type"]
    list_select_related = ["store", "end_customer"]
    # Exact matches on ids (indexed, unique); names and titles by substring.
    search_fields = [
        "=public_id",
        "product_title",
        "=store__public_id",
        "store__name",
        "=end_customer__public_id",
        "=end_customer__external_id",
    ]
    search_help_text = (
        "Search by event id (tro_…), product title, store name or id (st_…), "
        "or customer id (ec_…) or the store's own customer id."
    )
    date_hierarchy = "created_at"
    # Newest first by primary key: ids follow insertion time, and the pk index serves the sort on a
    # table of millions, where there is no index on created_at alone.
    ordering = ["-id"]
    # Counting every event for "N total" would scan the table on each page view.
    show_full_result_count = False
    # Facet counts ("Show counts") would count every event once per filter choice.
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    # The detail page says what happened from the outcome, never from the raw `success` flag: a
    # blocked try-on's backend reported a success that the shopper never saw (issue 13).
    fieldsets = [
        (None, {"fields": ["public_id", "created_at", "outcome_display", "result", "reason_display"]}),
        ("Where", {"fields": ["store", "api_key_prefix", "end_customer", "origin", "page_url", "widget_session_id"]}),
        ("Product", {"fields": ["product_title", "product_type", "variation_count", "generation_time_ms"]}),
    ]
    readonly_fields = [
        "public_id",
        "created_at",
        "outcome_display",
        "result",
        "reason_display",
        "store",
        "api_key_prefix",
        "end_customer",
        "origin",
        "page_url",
        "widget_session_id",
        "product_title",
        "product_type",
        "variation_count",
        "generation_time_ms",
    ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        if isinstance(response, TemplateResponse) and response.context_data and "cl" in response.context_data:
            response.context_data["event_dates"] = event_dates(response.context_data["cl"])
        return response

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_display(self, event: TryOnEvent) -> str:
        badge = status_badge(event.outcome, event.get_outcome_display())
        reason = REASON_LABELS.get(event.reason, event.reason)
        return format_html('{} <span class="gv-reason">{}</span>', badge, reason) if reason else badge

    @admin.display(description="What happened")
    def result(self, event: TryOnEvent) -> str:
        return RESULTS.get(TryOnEvent.Outcome(event.outcome), "")

    @admin.display(description="Reason blocked")
    def reason_display(self, event: TryOnEvent) -> str:
        return REASON_LABELS.get(event.reason, event.reason) or "—"

    @admin.display(description="API key")
    def api_key_prefix(self, event: TryOnEvent) -> str:
        return format_html("<code>{}…</code>", event.api_key.prefix)


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
