import base64
import binascii
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Least, TruncDate

from quotas.models import EndCustomer, UsagePeriod
from quotas.periods import window_at
from stores.models import ApiKey, CreditLedgerEntry, Store
from tryon.models import Conversion, DailyProductUsage, DailyUsage, TryOnEvent


@dataclass(frozen=True)
class Drift:
    store: str
    check: str
    expected: int
    actual: int

    def as_dict(self) -> dict[str, str | int]:
        return {"store": self.store, "check": self.check, "expected": self.expected, "actual": self.actual}


def credit_audit() -> tuple[int, list[Drift]]:
    """Check SPEC §2's money invariants for every store; returns (stores checked, drift).

    1. balance == credits remaining in packs the expiry job has not written off;
    2. sum of ledger deltas − debited try-ons == balance.

    The reads are several statements, so on PostgreSQL they share one snapshot (REPEATABLE READ,
    read only): a try-on debited between two of them would otherwise show as drift. SQLite's one
    writer cannot commit inside the read transaction.
    """
    # SET TRANSACTION must be a transaction's first statement: only when this block begins one
    # (inside a caller's transaction, a test's for one, the caller's isolation holds).
    own_snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if own_snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _credit_audit_read()


def _credit_audit_read() -> tuple[int, list[Drift]]:
    live = dict(
        Store.objects.annotate(
            live=Sum("credit_packs__remaining", filter=Q(credit_packs__expired_at__isnull=True))
        ).values_list("pk", "live")
    )
    ledger = dict(CreditLedgerEntry.objects.values("store_id").annotate(t=Sum("delta")).values_list("store_id", "t"))
    debited = dict(
        Store.objects.annotate(n=Count("tryon_events", filter=Q(tryon_events__debited=True))).values_list("pk", "n")
    )
    drift: list[Drift] = []
    stores = Store.objects.order_by("pk").values_list("pk", "public_id", "credit_balance")
    for pk, public_id, balance in stores:
        if (live.get(pk) or 0) != balance:
            drift.append(Drift(public_id, "balance_equals_live_packs", live.get(pk) or 0, balance))
        expected = (ledger.get(pk) or 0) - debited.get(pk, 0)
        if expected != balance:
            drift.append(Drift(public_id, "ledger_minus_debits_equals_balance", expected, balance))
    return len(stores), drift


# --- Usage figures: finished days from the rollups, the rest live from the events ---------------

# Generation times are counted in tenths of a second (ms rounded to the nearest 100), and 60 s or
# more in one last bucket: enough to merge medians across days and show them to 0.1 s.
BUCKET_MS = 100
LAST_BUCKET = 600


@dataclass
class DayFigures:
    day: date
    debited: int = 0
    failed: int = 0
    blocked: Counter[str] = field(default_factory=Counter)
    histogram: Counter[int] = field(default_factory=Counter)

    @property
    def blocked_total(self) -> int:
        return sum(self.blocked.values())

    @property
    def total(self) -> int:
        return self.debited + self.failed + self.blocked_total

    def add(self, other: "DayFigures") -> None:
        self.debited += other.debited
        self.failed += other.failed
        self.blocked.update(other.blocked)
        self.histogram.update(other.histogram)


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def blocked_reason(outcome: str, reason: str) -> str:
    """What a blocked try-on is counted under: the quota's reason (quota_exhausted, no_plan, paused,
    cancelled), or the outcome itself (credit_limit_reached)."""
    return reason or outcome


def events_daily_figures(store_id: int, start: date, end: date) -> dict[date, DayFigures]:
    """Figures of the days [start, end) computed from the events (two scans of the store's time index)."""
    events = TryOnEvent.objects.filter(
        store_id=store_id, created_at__gte=utc_midnight(start), created_at__lt=utc_midnight(end)
    ).annotate(day=TruncDate("created_at"))
    days = {start + timedelta(days=n): DayFigures(start + timedelta(days=n)) for n in range((end - start).days)}
    for row in events.values("day", "outcome", "reason").annotate(n=Count("id")).order_by():
        figures = days[row["day"]]
        if row["outcome"] == TryOnEvent.Outcome.DEBITED:
            figures.debited += row["n"]
        elif row["outcome"] == TryOnEvent.Outcome.FAILED:
            figures.failed += row["n"]
        else:
            figures.blocked[blocked_reason(row["outcome"], row["reason"])] += row["n"]
    timed = events.filter(debited=True, generation_time_ms__isnull=False).annotate(
        bucket=Least((F("generation_time_ms") + BUCKET_MS // 2) / BUCKET_MS, LAST_BUCKET)
    )
    for bucket in timed.values("day", "bucket").annotate(n=Count("id")).order_by():
        days[bucket["day"]].histogram[int(bucket["bucket"])] += bucket["n"]
    return days


def rolled_through(store_id: int) -> date | None:
    """The last day `rollup_usage` wrote for the store (rows are dense up to it)."""
    return DailyUsage.objects.filter(store_id=store_id).order_by("-day").values_list("day", flat=True).first()


def daily_figures(store: Store, start: date, today: date) -> list[DayFigures]:
    """Every day from start to today: rolled days from DailyUsage, the days after them live."""
    watermark = rolled_through(store.pk)
    days = {start + timedelta(days=n): DayFigures(start + timedelta(days=n)) for n in range((today - start).days + 1)}
    live_from = start
    if watermark is not None and watermark >= start:
        for row in DailyUsage.objects.filter(store=store, day__gte=start, day__lte=watermark):
            days[row.day] = DayFigures(
                row.day,
                row.debited,
                row.failed,
                Counter(row.blocked),
                Counter({int(bucket): n for bucket, n in row.generation_histogram.items()}),
            )
        live_from = watermark + timedelta(days=1)
    if live_from <= today:
        days.update(events_daily_figures(store.pk, live_from, today + timedelta(days=1)))
    return [days[day] for day in sorted(days)]


def histogram_median_ms(histogram: Counter[int]) -> int | None:
    """The low median of the counted times, to the bucket (0.1 s); None without any."""
    count = sum(histogram.values())
    if not count:
        return None
    rank, seen = (count + 1) // 2, 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket * BUCKET_MS
    raise AssertionError("unreachable: the ranks add up to the count")


CHART_DAYS = 30


@dataclass(frozen=True)
class Overview:
    days: list[DayFigures]  # the last CHART_DAYS days, oldest first, today last
    today: DayFigures
    month: DayFigures
    window: DayFigures  # the sum of `days`

    @property
    def success_rate(self) -> float | None:
        """Successful share of the try-ons that ran (blocked ones never ran)."""
        ran = self.window.debited + self.window.failed
        return self.window.debited / ran if ran else None

    # The median is a histogram bucket's time: rounded to the nearest BUCKET_MS.
    median_rounded_to_ms: ClassVar[int] = BUCKET_MS

    @property
    def median_generation_ms(self) -> int | None:
        return histogram_median_ms(self.window.histogram)

    @property
    def blocked_by_reason(self) -> list[tuple[str, int]]:
        return self.window.blocked.most_common()


def usage_overview(store: Store, *, now: datetime) -> Overview:
    today = now.astimezone(UTC).date()
    window_start = today - timedelta(days=CHART_DAYS - 1)
    month_start = today.replace(day=1)
    days = daily_figures(store, min(window_start, month_start), today)
    window, month = DayFigures(window_start), DayFigures(month_start)
    for figures in days:
        if figures.day >= window_start:
            window.add(figures)
        if figures.day >= month_start:
            month.add(figures)
    return Overview(days=[d for d in days if d.day >= window_start], today=days[-1], month=month, window=window)


# --- Products ----------------------------------------------------------------------------------


@dataclass
class ProductFigures:
    title: str
    product_type: str
    debited: int = 0
    failed: int = 0
    blocked: int = 0

    @property
    def tries(self) -> int:
        return self.debited + self.failed + self.blocked

    @property
    def success_rate(self) -> float | None:
        ran = self.debited + self.failed
        return self.debited / ran if ran else None


ProductKey = tuple[str, str]  # (product_type, product_title)


def events_product_figures(store_id: int, start: date, end: date) -> dict[tuple[date, str, str], ProductFigures]:
    """Per day and product, the figures of the days [start, end), from the events."""
    rows = (
        TryOnEvent.objects.filter(
            store_id=store_id, created_at__gte=utc_midnight(start), created_at__lt=utc_midnight(end)
        )
        .annotate(day=TruncDate("created_at"))
        .values("day", "product_type", "product_title", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    figures: dict[tuple[date, str, str], ProductFigures] = {}
    for row in rows:
        key = (row["day"], row["product_type"], row["product_title"])
        product = figures.setdefault(key, ProductFigures(row["product_title"], row["product_type"]))
        if row["outcome"] == TryOnEvent.Outcome.DEBITED:
            product.debited += row["n"]
        elif row["outcome"] == TryOnEvent.Outcome.FAILED:
            product.failed += row["n"]
        else:
            product.blocked += row["n"]
    return figures


def top_products(store: Store, *, now: datetime, days: int, limit: int = 50) -> list[ProductFigures]:
    """The store's products by try-ons over the last `days` days (today included), most tried first."""
    today = now.astimezone(UTC).date()
    start = today - timedelta(days=days - 1)
    watermark = rolled_through(store.pk)
    totals: dict[ProductKey, ProductFigures] = {}

    def add(product_type: str, title: str, debited: int, failed: int, blocked: int) -> None:
        product = totals.setdefault((product_type, title), ProductFigures(title, product_type))
        product.debited += debited
        product.failed += failed
        product.blocked += blocked

    live_from = start
    if watermark is not None and watermark >= start:
        rolled = (
            DailyProductUsage.objects.filter(store=store, day__gte=start, day__lte=watermark)
            .values("product_type", "product_title")
            .annotate(debited=Sum("debited"), failed=Sum("failed"), blocked=Sum("blocked"))
            .order_by()
        )
        for row in rolled:
            add(row["product_type"], row["product_title"], row["debited"], row["failed"], row["blocked"])
        live_from = watermark + timedelta(days=1)
    if live_from <= today:
        for product in events_product_figures(store.pk, live_from, today + timedelta(days=1)).values():
            add(product.product_type, product.title, product.debited, product.failed, product.blocked)
    ranked = sorted(totals.values(), key=lambda p: (-p.tries, -p.debited, p.title))
    return ranked[:limit]


# --- Events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilters:
    outcome: str = ""
    product_type: str = ""
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    q: str = ""
    customer: str = ""  # the shopper's external id or ec_ id


# The events filter's name for both 402 outcomes.
BLOCKED = "blocked"


def events_filtered(store: Store, filters: EventFilters) -> QuerySet[TryOnEvent]:
    events = TryOnEvent.objects.filter(store=store)
    if filters.outcome == BLOCKED:
        events = events.exclude(outcome__in=[TryOnEvent.Outcome.DEBITED, TryOnEvent.Outcome.FAILED])
    elif filters.outcome:
        events = events.filter(outcome=filters.outcome)
    if filters.product_type:
        events = events.filter(product_type=filters.product_type)
    if filters.date_from:
        events = events.filter(created_at__gte=utc_midnight(filters.date_from))
    # The last day Python holds has no next midnight, and every time ends before its end anyway.
    if filters.date_to and filters.date_to < date.max:
        events = events.filter(created_at__lt=utc_midnight(filters.date_to + timedelta(days=1)))
    if filters.q:
        events = events.filter(product_title__icontains=filters.q)
    if filters.customer:
        customers = EndCustomer.objects.filter(store=store)
        customers = customers.filter(Q(external_id=filters.customer) | Q(public_id=filters.customer))
        events = events.filter(end_customer__in=customers)
    return events


@dataclass(frozen=True)
class Cursor:
    """A position in the newest-first order of events: (created_at, id) of the row it follows."""

    created_at: datetime
    pk: int

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.pk}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor | None":
        """None for anything that is not a cursor this code made (the page then starts over)."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            stamp, pk = raw.split("|")
            created_at = datetime.fromisoformat(stamp)
            # In UTC, as stored: a time in year 1 or 9999 may have no UTC equivalent.
            return cls(created_at.astimezone(UTC), int(pk)) if created_at.tzinfo else None
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
            return None

    @classmethod
    def of(cls, event: TryOnEvent) -> "Cursor":
        return cls(event.created_at, event.pk)


@dataclass(frozen=True)
class EventsPage:
    events: list[TryOnEvent]
    older: Cursor | None  # the cursor of the next (older) page, if there is one
    newer: Cursor | None  # of the previous (newer) page


def events_page(
    store: Store,
    filters: EventFilters,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    size: int = 50,
) -> EventsPage:
    """Keyset pagination, newest first: each page reads `size + 1` rows down the (store, created_at)
    index from where the last one stopped, whatever the depth, and never counts the whole set."""
    events = events_filtered(store, filters).select_related("end_customer", "api_key")
    newest_first = ("-created_at", "-id")
    if before is not None:
        # The newer page: walk up from the cursor, then turn the rows back to newest first. Near
        # the top there may be fewer than a page of them: then the first page is the newer one.
        rows = list(
            events.filter(created_at__gte=before.created_at)
            .exclude(created_at=before.created_at, id__lte=before.pk)
            .order_by("created_at", "id")[: size + 1]
        )
        if len(rows) > size:
            rows = rows[:size][::-1]
            return EventsPage(rows, Cursor.of(rows[-1]), Cursor.of(rows[0]))
        after = None
    if after is not None:
        events = events.filter(created_at__lte=after.created_at).exclude(created_at=after.created_at, id__gte=after.pk)
    rows = list(events.order_by(*newest_first)[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return EventsPage(
        rows,
        Cursor.of(rows[-1]) if rows and more_older else None,
        Cursor.of(rows[0]) if rows and after is not None else None,
    )


EXPORT_BATCH = 2000
EXPORT_FIELDS = (
    "id",
    "public_id",
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
    "end_customer_id",
    "api_key_id",
)


def events_for_export(store: Store, filters: EventFilters) -> Iterator[dict[str, Any]]:
    """Every matching event as plain values, newest first, in keyset batches down the (store,
    created_at) index, with `api_key_prefix`, `customer_id` and `customer_external_id`.

    Each batch is one short query without joins (a cursor over the whole set would be planned as a
    sort of all of it), and plain values spare building a model per row of a million-row export.
    """
    # Not a generator itself: the filters are applied now, so a problem with them is the caller's
    # answer rather than an error in the middle of a response already streaming.
    events = events_filtered(store, filters).order_by("-created_at", "-id").values(*EXPORT_FIELDS)
    return _export_rows(store, events)


def _export_rows(store: Store, events: QuerySet[TryOnEvent, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    keys = dict(ApiKey.objects.filter(store=store).values_list("pk", "prefix"))
    batch = list(events[:EXPORT_BATCH])
    while batch:
        customer_ids = {row["end_customer_id"] for row in batch if row["end_customer_id"]}
        customers = {
            pk: (public_id, external_id)
            for pk, public_id, external_id in EndCustomer.objects.filter(pk__in=customer_ids).values_list(
                "pk", "public_id", "external_id"
            )
        }
        for row in batch:
            row["customer_id"], row["customer_external_id"] = customers.get(row["end_customer_id"], ("", ""))
            row["api_key_prefix"] = keys.get(row["api_key_id"], "")
            yield row
        if len(batch) < EXPORT_BATCH:
            return
        last = batch[-1]
        older = events.filter(created_at__lte=last["created_at"]).exclude(
            created_at=last["created_at"], id__gte=last["id"]
        )
        batch = list(older[:EXPORT_BATCH])


# --- Customers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerUsage:
    customer: EndCustomer
    period_start: datetime
    period_end: datetime
    used: int
    limit: int

    @property
    def share(self) -> float:
        return min(self.used / self.limit, 1.0) if self.limit else 0.0


def customers_usage(customers: list[EndCustomer], *, now: datetime) -> list[CustomerUsage]:
    """Each customer's current period, computed without writing (one query for the whole page).

    A window that has rolled but where no try-on opened the period yet has used 0 of the plan's
    quota, as `quotas.selectors.current_usage` says for one customer.
    """
    windows = {c.pk: window_at(c.period_start, c.period_end, now) for c in customers}
    wanted = Q(pk__in=[])
    for customer_id, (start, _) in windows.items():
        wanted |= Q(customer_id=customer_id, period_start=start)
    periods = {(p.customer_id, p.period_start): p for p in UsagePeriod.objects.filter(wanted)} if customers else {}
    usage = []
    for customer in customers:
        start, end = windows[customer.pk]
        period = periods.get((customer.pk, start))
        if period is not None:
            usage.append(CustomerUsage(customer, start, end, period.used, period.limit))
        else:
            quota = customer.plan.monthly_try_ons if customer.plan else 0
            usage.append(CustomerUsage(customer, start, end, 0, quota))
    return usage


def customers_filtered(store: Store, *, status: str, search: str) -> QuerySet[EndCustomer]:
    """The store's end-customers, newest first, by status and by a piece of external id or email."""
    customers = EndCustomer.objects.filter(store=store).select_related("plan").order_by("-created_at", "-id")
    if status:
        customers = customers.filter(status=status)
    if search:
        customers = customers.filter(Q(external_id__icontains=search) | Q(email__icontains=search))
    return customers


def conversion_by_order(store: Store, platform: str, order_id: str) -> Conversion | None:
    """The order reported as (platform, orderId) to this store, if it was."""
    return Conversion.objects.filter(store=store, platform=platform, order_id=order_id).first()
