"""Usage pages of the merchant portal: overview, events (and their CSV), products, customers and
a customer's detail (its actions are quotas.views)."""

import csv
from collections.abc import Iterator
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from genvoris.fields import iso_utc
from quotas.models import EndCustomer, Plan
from quotas.selectors import current_usage, sessions_page, usage_periods_of
from stores.models import Store
from stores.portal import member_view, render_portal
from stores.selectors import credit_summary
from tryon.charts import stacked_bars
from tryon.forms import CustomerFilterForm, EventFilterForm
from tryon.selectors import (
    Cursor,
    EventFilters,
    customers_filtered,
    customers_usage,
    events_for_export,
    events_page,
    top_products,
    usage_overview,
)

EVENTS_PER_PAGE = 50
CUSTOMERS_PER_PAGE = 25
CUSTOMER_EVENTS = 50
CUSTOMER_SESSIONS = 20
CUSTOMER_PERIODS = 12
PRODUCT_WINDOWS = (7, 30, 90)


@member_view
def overview(request: HttpRequest, store: Store) -> HttpResponse:
    now = timezone.now()
    usage = usage_overview(store, now=now)
    return render_portal(
        request,
        "tryon/overview.html",
        store,
        "overview",
        {"usage": usage, "credits": credit_summary(store, now=now), "chart": stacked_bars(usage.days), "now": now},
    )


@member_view
def events(request: HttpRequest, store: Store) -> HttpResponse:
    form = EventFilterForm(request.GET or None)
    return _events_page(request, store, form)


def _events_page(request: HttpRequest, store: Store, form: EventFilterForm) -> HttpResponse:
    page = events_page(
        store,
        form.filters(),
        after=Cursor.decode(request.GET.get("after", "")),
        before=Cursor.decode(request.GET.get("before", "")),
        size=EVENTS_PER_PAGE,
    )
    return render_portal(request, "tryon/events.html", store, "events", {"form": form, "page": page})


CSV_COLUMNS = [
    "id",
    "created_at",
    "outcome",
    "reason",
    "debited",
    "success",
    "product_type",
    "product_title",
    "page_url",
    "origin",
    "variation_count",
    "generation_time_ms",
    "customer_id",
    "customer_external_id",
    "api_key_prefix",
]


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def spreadsheet_safe(text: str) -> str:
    """Defuse formulas: a spreadsheet runs a cell starting with = + - @ (CSV injection)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_row(event: dict[str, Any]) -> list[Any]:
    return [
        event["public_id"],
        iso_utc(event["created_at"]),
        event["outcome"],
        event["reason"],
        str(event["debited"]).lower(),
        str(event["success"]).lower(),
        event["product_type"],
        spreadsheet_safe(event["product_title"]),
        spreadsheet_safe(event["page_url"]),
        spreadsheet_safe(event["origin"]),
        event["variation_count"],
        event["generation_time_ms"],
        event["customer_id"],
        spreadsheet_safe(event["customer_external_id"]),
        event["api_key_prefix"],
    ]


@member_view
def events_csv(request: HttpRequest, store: Store) -> HttpResponse | StreamingHttpResponse:
    """Every event matching the page's filters, streamed: a million rows never sit in memory.

    Filters are checked before the first byte: once streaming, an error could only cut the file
    short. An invalid one is the events page with its errors, not an export of more than was asked.
    """
    form = EventFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        refused = _events_page(request, store, form)
        refused.status_code = 400
        return refused
    rows = events_for_export(store, form.filters())
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for event in rows:
            yield writer.writerow(_csv_row(event))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = f"genvoris-events-{store.public_id}-{timezone.now():%Y%m%d-%H%M%S}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@member_view
def products(request: HttpRequest, store: Store) -> HttpResponse:
    days = int(request.GET["days"]) if request.GET.get("days") in {str(d) for d in PRODUCT_WINDOWS} else 30
    ranked = top_products(store, now=timezone.now(), days=days)
    return render_portal(
        request,
        "tryon/products.html",
        store,
        "products",
        {"products": ranked, "days": days, "windows": PRODUCT_WINDOWS, "most": ranked[0].tries if ranked else 0},
    )


@member_view
def customers(request: HttpRequest, store: Store) -> HttpResponse:
    form = CustomerFilterForm(request.GET)
    status, search = form.value("status"), form.value("q")[:100]
    rows = customers_filtered(store, status=status, search=search)
    page = Paginator(rows, CUSTOMERS_PER_PAGE).get_page(request.GET.get("page"))
    return render_portal(
        request,
        "tryon/customers.html",
        store,
        "customers",
        {
            "page": page,
            "usage": customers_usage(list(page.object_list), now=timezone.now()),
            "status": status,
            "q": search,
            "statuses": EndCustomer.Status.choices,
        },
    )


@member_view
def customer(request: HttpRequest, store: Store, customer_id: str) -> HttpResponse:
    """One customer: plan, status, this period, past periods, sessions, the last events."""
    shopper = get_object_or_404(EndCustomer.objects.select_related("plan"), store=store, public_id=customer_id)
    now = timezone.now()
    events = events_page(store, EventFilters(customer=shopper.public_id), size=CUSTOMER_EVENTS)
    return render_portal(
        request,
        "tryon/customer.html",
        store,
        "customers",
        {
            "customer": shopper,
            "usage": current_usage(shopper, now),
            "periods": usage_periods_of(shopper, count=CUSTOMER_PERIODS),
            "sessions": sessions_page(shopper, now=now, limit=CUSTOMER_SESSIONS, cursor=None).sessions,
            "page": events,
            "plans": Plan.objects.filter(store=store, active=True).order_by("name", "id"),
            "now": now,
        },
    )
