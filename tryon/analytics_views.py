"""The portal's Analytics page and its CSV export (SPEC §16)."""

import csv
import io
from datetime import UTC

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from stores.models import Store
from stores.portal import member_view, render_portal
from tryon.analytics import FUNNEL_FIELDS, Analytics, store_analytics
from tryon.charts import funnel_steps, session_bars
from tryon.forms import DateRangeForm


def _analytics(request: HttpRequest, store: Store) -> tuple[DateRangeForm, Analytics]:
    now = timezone.now()
    form = DateRangeForm(request.GET or None)
    start, end = form.range(now.astimezone(UTC).date())
    return form, store_analytics(store, start=start, end=end, now=now)


@member_view
def analytics(request: HttpRequest, store: Store) -> HttpResponse:
    form, figures = _analytics(request, store)
    return _page(request, store, form, figures)


def _page(request: HttpRequest, store: Store, form: DateRangeForm, figures: Analytics) -> HttpResponse:
    """The page; a 400 when the range has an error (it then shows the default range and the error)."""
    response = render_portal(
        request,
        "tryon/analytics.html",
        store,
        "analytics",
        {
            "form": form,
            "analytics": figures,
            "chart": session_bars(figures.days),
            "funnel": funnel_steps(figures.total.steps),
        },
    )
    if form.is_bound and not form.is_valid():
        response.status_code = 400
    return response


def csv_columns(currencies: list[str]) -> list[str]:
    columns = ["day", "sessions", *FUNNEL_FIELDS, "purchased", "sessions_with_tryon"]
    for currency in currencies:
        code = currency.lower()
        columns += [f"orders_{code}", f"revenue_{code}_cents", f"hard_{code}_cents", f"soft_{code}_cents"]
    return columns


def analytics_csv_text(figures: Analytics) -> str:
    """One row per day of the range; money in minor units, one group of columns per currency."""
    currencies = [c.currency for c in figures.currencies]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_columns(currencies))
    for day in figures.days:
        row: list[object] = [day.day.isoformat(), day.sessions, *(getattr(day, n) for n in FUNNEL_FIELDS)]
        row += [day.purchased, day.tryon_sessions]
        money = figures.money_by_day.get(day.day, {})
        for currency in currencies:
            of_day = money.get(currency)
            if of_day is None:
                row += [0, 0, 0, 0]
            else:
                row += [of_day.total.orders, of_day.total.amount_cents, of_day.hard.amount_cents]
                row += [of_day.soft.amount_cents]
        writer.writerow(row)
    return out.getvalue()


@member_view
def analytics_csv(request: HttpRequest, store: Store) -> HttpResponse:
    """The page's daily figures for its range (at most a year of rows, so not streamed). A range
    with an error is the page with its errors, as for the events export."""
    form, figures = _analytics(request, store)
    if form.is_bound and not form.is_valid():
        return _page(request, store, form, figures)
    response = HttpResponse(analytics_csv_text(figures), content_type="text/csv; charset=utf-8")
    filename = f"genvoris-analytics-{store.public_id}-{figures.start:%Y%m%d}-{figures.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
