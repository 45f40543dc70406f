"""Daily usage rollups (the usage pages' fast path; SPEC §9), written by a command long after the
try-ons they count, so try-ons never wait on them."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import IntegrityError, transaction

from stores.models import Store
from tryon.analytics import (
    FUNNEL_FIELDS,
    analytics_first_day,
    events_funnel_days,
    events_orders,
    events_product_funnel,
    funnel_rolled_through,
)
from tryon.models import DailyFunnel, DailyOrders, DailyProductFunnel, DailyProductUsage, DailyUsage, TryOnEvent
from tryon.selectors import events_daily_figures, events_product_figures, rolled_through

# A day is rolled only this long after it ends, so no try-on of it can still be committing.
ROLLUP_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class RollupResult:
    stores: int
    days: int
    skipped: int


def usage_rollup(*, now: datetime, store: Store | None = None, rebuild: bool = False) -> RollupResult:
    """Write DailyUsage and DailyProductUsage for each store's finished days not rolled yet.

    Runs outside the track transaction (a cron command), so try-ons never wait on it. The last
    rolled day is recomputed each time; `rebuild` recomputes every day from the first event.
    """
    through = (now - ROLLUP_GRACE).astimezone(UTC).date() - timedelta(days=1)
    stores = [store.pk] if store is not None else list(Store.objects.order_by("pk").values_list("pk", flat=True))
    rolled = days = skipped = 0
    for store_id in stores:
        try:
            written = _rollup_store(store_id=store_id, through=through, rebuild=rebuild)
            _rollup_analytics(store_id=store_id, through=through, rebuild=rebuild)
        except IntegrityError:  # another rollup run wrote these days first; its figures are the same
            skipped += 1
            continue
        rolled += bool(written)
        days += written
    return RollupResult(stores=rolled, days=days, skipped=skipped)


@transaction.atomic(durable=True)
def _rollup_store(*, store_id: int, through: date, rebuild: bool) -> int:
    start = None if rebuild else rolled_through(store_id)
    if start is None:
        first = TryOnEvent.objects.filter(store_id=store_id).order_by("created_at").values_list("created_at", flat=True)
        first_event = first.first()
        if first_event is None:
            return 0
        start = first_event.astimezone(UTC).date()
    if start > through:
        return 0
    end = through + timedelta(days=1)
    days = events_daily_figures(store_id, start, end)
    products = events_product_figures(store_id, start, end)
    # Delete and insert in one transaction: readers see the old rows or the new, never a gap.
    DailyUsage.objects.filter(store_id=store_id, day__gte=start).delete()
    DailyProductUsage.objects.filter(store_id=store_id, day__gte=start).delete()
    DailyUsage.objects.bulk_create(
        DailyUsage(
            store_id=store_id,
            day=figures.day,
            debited=figures.debited,
            failed=figures.failed,
            blocked=dict(figures.blocked),
            generation_histogram={str(bucket): n for bucket, n in sorted(figures.histogram.items())},
        )
        for figures in days.values()
    )
    DailyProductUsage.objects.bulk_create(
        (
            DailyProductUsage(
                store_id=store_id,
                day=day,
                product_type=product_type,
                product_title=title,
                debited=product.debited,
                failed=product.failed,
                blocked=product.blocked,
            )
            for (day, product_type, title), product in products.items()
        ),
        batch_size=1000,
    )
    return len(days)


@transaction.atomic(durable=True)
def _rollup_analytics(*, store_id: int, through: date, rebuild: bool) -> int:
    """The Analytics page's rollups (SPEC §16): DailyFunnel (dense from the store's first widget
    event or order), DailyProductFunnel and DailyOrders (sparse), by the same rules as the usage
    rollups. Every figure of a finished day is final (tryon/analytics.py says why), so the rolled
    days plus the live ones equal a direct count."""
    start = None if rebuild else funnel_rolled_through(store_id)
    if start is None:
        start = analytics_first_day(store_id)
        if start is None:
            return 0
    if start > through:
        return 0
    end = through + timedelta(days=1)
    days = events_funnel_days(store_id, start, end)
    products = events_product_funnel(store_id, start, end)
    orders = events_orders(store_id, start, end)
    for model in (DailyFunnel, DailyProductFunnel, DailyOrders):
        model.objects.filter(store_id=store_id, day__gte=start).delete()
    DailyFunnel.objects.bulk_create(
        DailyFunnel(
            store_id=store_id,
            day=figures.day,
            sessions=figures.sessions,
            tryon_sessions=figures.tryon_sessions,
            **{name: getattr(figures, name) for name in FUNNEL_FIELDS},
        )
        for figures in days.values()
    )
    DailyProductFunnel.objects.bulk_create(
        (
            DailyProductFunnel(store_id=store_id, day=day, product_id=product_id, product_title=title[:300], **counts)
            for (day, product_id), (title, counts) in products.items()
        ),
        batch_size=1000,
    )
    DailyOrders.objects.bulk_create(
        (
            DailyOrders(
                store_id=store_id,
                day=day,
                currency=currency,
                attribution=attribution,
                tryon_session=tried,
                widget_session=seen,
                orders=money.orders,
                amount_cents=money.amount_cents,
            )
            for (day, currency, attribution, tried, seen), money in orders.items()
        ),
        batch_size=1000,
    )
    return len(days)
