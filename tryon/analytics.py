"""Selectors of the portal's Analytics page (SPEC §16): the widget funnel, orders and returns.

Definitions (docs/decisions.md, "Portal: Analytics"):

- A *session* is counted once, on the UTC day of its first widget event, with the steps it reached
  that day (distinct sessions with an event of the step's type). Summing days therefore counts
  distinct sessions, and a finished day never changes.
- An order is counted on the day it was reported. It is a *try-on* order when its session had a
  debited try-on before the order, a *widget* order when its session had sent a widget event
  before it; both are fixed when the order is written, so a finished day never changes either.
- Returns are read live (a refund may come weeks after its order and changes that order's day).

Finished days come from the rollups (DailyFunnel, DailyProductFunnel, DailyOrders) up to their
watermark, the days after it live from the events, like the usage pages (tryon/selectors.py).
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from stores.models import Store
from tryon.models import (
    Conversion,
    DailyFunnel,
    DailyOrders,
    DailyProductFunnel,
    DailyUsage,
    OrderReturn,
    TryOnEvent,
    WidgetEvent,
)
from tryon.selectors import rolled_through, utc_midnight

Type = WidgetEvent.Type
Attribution = Conversion.Attribution

# The funnel's steps before the purchase, as (field, event type, label).
STEPS = (
    ("opened", Type.WIDGET_OPENED, "Opened"),
    ("uploaded", Type.PHOTO_UPLOADED, "Uploaded a photo"),
    ("generated", Type.TRYON_GENERATED, "Try-on generated"),
    ("viewed", Type.TRYON_VIEWED, "Viewed the result"),
    ("added_to_cart", Type.ADDED_TO_CART, "Added to cart"),
)
STEP_OF_TYPE = {event_type: name for name, event_type, _ in STEPS}
FUNNEL_FIELDS = tuple(name for name, _, _ in STEPS)
# The widest range the page reads: a leap year, both ends included.
MAX_RANGE_DAYS = 366
PRODUCTS_SHOWN = 50


@dataclass
class FunnelDay:
    day: date
    sessions: int = 0
    opened: int = 0
    uploaded: int = 0
    generated: int = 0
    viewed: int = 0
    added_to_cart: int = 0
    tryon_sessions: int = 0
    purchased: int = 0  # orders from widget sessions

    def add(self, other: "FunnelDay") -> None:
        for name in ("sessions", *FUNNEL_FIELDS, "tryon_sessions", "purchased"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def steps(self) -> list[tuple[str, str, int]]:
        """(field, label, sessions) of each step, the purchase last."""
        return [(name, label, getattr(self, name)) for name, _, label in STEPS] + [
            ("purchased", "Purchased", self.purchased)
        ]


@dataclass
class ProductFunnel:
    product_id: str
    title: str = ""
    opened: int = 0
    uploaded: int = 0
    generated: int = 0
    viewed: int = 0
    added_to_cart: int = 0
    purchased: int = 0

    def add(self, title: str, counts: dict[str, int]) -> None:
        self.title = self.title or title
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + value)

    @property
    def conversion(self) -> float | None:
        """Orders per session that opened the widget on the product."""
        return self.purchased / self.opened if self.opened else None


OrderKey = tuple[date, str, str, bool, bool]  # day, currency, attribution, tryon_session, widget_session


@dataclass
class Money:
    orders: int = 0
    amount_cents: int = 0

    def add(self, orders: int, amount_cents: int) -> None:
        self.orders += orders
        self.amount_cents += amount_cents

    @property
    def average_cents(self) -> int | None:
        return round(self.amount_cents / self.orders) if self.orders else None


@dataclass
class CurrencyFigures:
    """Every money figure of one currency: amounts are never added across currencies."""

    currency: str
    total: Money = field(default_factory=Money)
    hard: Money = field(default_factory=Money)
    soft: Money = field(default_factory=Money)
    with_tryon: Money = field(default_factory=Money)  # orders of sessions with a try-on
    without_tryon: Money = field(default_factory=Money)  # orders of widget sessions without one

    @property
    def attributed_cents(self) -> int:
        return self.hard.amount_cents + self.soft.amount_cents

    @property
    def attributed_share(self) -> float | None:
        return self.attributed_cents / self.total.amount_cents if self.total.amount_cents else None


@dataclass(frozen=True)
class ReturnRate:
    orders: int
    returned: int

    @property
    def rate(self) -> float | None:
        return self.returned / self.orders if self.orders else None


@dataclass(frozen=True)
class Analytics:
    start: date
    end: date  # inclusive
    days: list[FunnelDay]  # every day of the range, oldest first
    total: FunnelDay
    products: list[ProductFunnel]  # most opened first, at most PRODUCTS_SHOWN
    currencies: list[CurrencyFigures]  # most orders first
    orders: int
    attributed_orders: int  # hard + soft, every currency
    orders_with_tryon: int
    orders_without_tryon: int
    returns_attributed: ReturnRate
    returns_unattributed: ReturnRate
    debited_tryons: int
    money_by_day: dict[date, dict[str, CurrencyFigures]]  # the days with orders (the CSV's money columns)

    @property
    def sessions_without_tryon(self) -> int:
        return self.total.sessions - self.total.tryon_sessions

    @property
    def conversion_with_tryon(self) -> float | None:
        """Orders per session, for sessions with a debited try-on."""
        sessions = self.total.tryon_sessions
        return self.orders_with_tryon / sessions if sessions else None

    @property
    def conversion_without_tryon(self) -> float | None:
        sessions = self.sessions_without_tryon
        return self.orders_without_tryon / sessions if sessions else None

    @property
    def credits_per_attributed_order(self) -> float | None:
        return self.debited_tryons / self.attributed_orders if self.attributed_orders else None

    @property
    def empty(self) -> bool:
        return not (self.total.sessions or self.orders)


# --- from the events (the rollup job, and the days after its watermark) --------------------------


def first_day_events(store_id: int, start: date, end: date) -> QuerySet[Any]:
    """The widget events of [start, end) sent on their session's first day, annotated with `day`.

    The earlier-event probe walks the (store, session_id) index: a session has a handful of events.
    """
    earlier = (
        WidgetEvent.objects.filter(store_id=store_id, session_id=OuterRef("session_id"))
        .annotate(event_day=TruncDate("created_at"))
        .filter(event_day__lt=OuterRef("day"))
    )
    return (
        WidgetEvent.objects.filter(
            store_id=store_id, created_at__gte=utc_midnight(start), created_at__lt=utc_midnight(end)
        )
        .annotate(day=TruncDate("created_at"))
        .exclude(Exists(earlier))
    )


def _tried_by_day_end(store_id: int) -> Exists:
    """A debited try-on of the outer event's session on or before the outer event's day."""
    return Exists(
        TryOnEvent.objects.filter(store_id=store_id, debited=True, widget_session_id=OuterRef("session_id"))
        .exclude(widget_session_id="")
        .annotate(tryon_day=TruncDate("created_at"))
        .filter(tryon_day__lte=OuterRef("day"))
    )


def events_funnel_days(store_id: int, start: date, end: date) -> dict[date, FunnelDay]:
    """Each day of [start, end) from the events, but its purchases: two grouped scans of the
    store's time index."""
    days = {start + timedelta(days=n): FunnelDay(start + timedelta(days=n)) for n in range((end - start).days)}
    events = first_day_events(store_id, start, end)
    sessions = (
        events.annotate(tried=_tried_by_day_end(store_id))
        .values("day")
        .annotate(n=Count("session_id", distinct=True), t=Count("session_id", distinct=True, filter=Q(tried=True)))
        .order_by()
    )
    for row in sessions:
        days[row["day"]].sessions, days[row["day"]].tryon_sessions = row["n"], row["t"]
    steps = (
        events.filter(event_type__in=STEP_OF_TYPE)
        .values("day", "event_type")
        .annotate(n=Count("session_id", distinct=True))
        .order_by()
    )
    for row in steps:
        setattr(days[row["day"]], STEP_OF_TYPE[row["event_type"]], row["n"])
    return days  # `purchased` comes from the orders (events_orders), counted by the caller


def _orders(store_id: int, start: date, end: date) -> QuerySet[Any]:
    tried = TryOnEvent.objects.filter(
        store_id=store_id,
        debited=True,
        widget_session_id=OuterRef("session_id"),
        created_at__lte=OuterRef("created_at"),
    ).exclude(widget_session_id="")
    seen = WidgetEvent.objects.filter(
        store_id=store_id, session_id=OuterRef("session_id"), created_at__lte=OuterRef("created_at")
    ).exclude(session_id="")
    return (
        Conversion.objects.filter(
            store_id=store_id, created_at__gte=utc_midnight(start), created_at__lt=utc_midnight(end)
        )
        .annotate(day=TruncDate("created_at"), tried=Exists(tried), seen=Exists(seen))
        .order_by()
    )


def events_orders(store_id: int, start: date, end: date) -> dict[OrderKey, Money]:
    """Orders of [start, end) by day, currency, attribution, try-on session and widget session."""
    rows = (
        _orders(store_id, start, end)
        .values("day", "currency", "attribution", "tried", "seen")
        .annotate(n=Count("id"), amount=Sum("amount_cents"))
    )
    result: dict[OrderKey, Money] = {}
    for row in rows:
        key = (row["day"], row["currency"], row["attribution"], bool(row["tried"]), bool(row["seen"]))
        result.setdefault(key, Money()).add(row["n"], row["amount"] or 0)
    return result


ProductDayKey = tuple[date, str]  # day, product_id


def events_product_funnel(store_id: int, start: date, end: date) -> dict[ProductDayKey, tuple[str, dict[str, int]]]:
    """Per day and product: (a title, {step: sessions, "purchased": orders from widget sessions})."""
    result: dict[ProductDayKey, tuple[str, dict[str, int]]] = {}
    rows = (
        first_day_events(store_id, start, end)
        .filter(event_type__in=STEP_OF_TYPE)
        .values("day", "product_id", "event_type")
        .annotate(n=Count("session_id", distinct=True), title=Max("product_title"))
        .order_by()
    )
    for row in rows:
        _, counts = result.setdefault((row["day"], row["product_id"]), (row["title"] or "", {}))
        counts[STEP_OF_TYPE[row["event_type"]]] = row["n"]
    bought = (
        _orders(store_id, start, end)
        .filter(seen=True)
        .values("day", "product_id")
        .annotate(n=Count("id"), title=Max("product_title"))
    )
    for row in bought:
        _, counts = result.setdefault((row["day"], row["product_id"]), (row["title"] or "", {}))
        counts["purchased"] = row["n"]
    return result


def analytics_first_day(store_id: int) -> date | None:
    """The UTC day of the store's first widget event or order, where its rollup rows start."""
    firsts = [
        model.objects.filter(store_id=store_id).order_by("created_at").values_list("created_at", flat=True).first()
        for model in (WidgetEvent, Conversion)
    ]
    found = [moment for moment in firsts if moment is not None]
    return min(found).astimezone(UTC).date() if found else None


def funnel_rolled_through(store_id: int) -> date | None:
    """The last day the rollup wrote for the store's funnel (rows are dense up to it)."""
    return DailyFunnel.objects.filter(store_id=store_id).order_by("-day").values_list("day", flat=True).first()


# --- the page ------------------------------------------------------------------------------------


def default_range(now: datetime, days: int = 30) -> tuple[date, date]:
    today = now.astimezone(UTC).date()
    return today - timedelta(days=days - 1), today


def store_analytics(store: Store, *, start: date, end: date, now: datetime) -> Analytics:
    """Every figure of the page for the days start..end (UTC, both included)."""
    today = now.astimezone(UTC).date()
    days = {start + timedelta(days=n): FunnelDay(start + timedelta(days=n)) for n in range((end - start).days + 1)}
    products: dict[str, ProductFunnel] = {}
    orders: dict[OrderKey, Money] = {}

    def add_product(product_id: str, title: str, counts: dict[str, int]) -> None:
        products.setdefault(product_id, ProductFunnel(product_id)).add(title, counts)

    watermark = funnel_rolled_through(store.pk)
    live_from = start
    if watermark is not None and watermark >= start:
        rolled_end = min(watermark, end)
        for row in DailyFunnel.objects.filter(store=store, day__gte=start, day__lte=rolled_end):
            counts = {name: getattr(row, name) for name in ("sessions", *FUNNEL_FIELDS, "tryon_sessions")}
            days[row.day] = FunnelDay(row.day, **counts)
        rolled_products = (
            DailyProductFunnel.objects.filter(store=store, day__gte=start, day__lte=rolled_end)
            .values("product_id")
            .annotate(title=Max("product_title"), **{name: Sum(name) for name in (*FUNNEL_FIELDS, "purchased")})
            .order_by()
        )
        for product in rolled_products:
            sums: dict[str, Any] = dict(product)
            add_product(sums["product_id"], sums["title"], {n: sums[n] for n in (*FUNNEL_FIELDS, "purchased")})
        rolled_orders = DailyOrders.objects.filter(store=store, day__gte=start, day__lte=rolled_end).values_list(
            "day", "currency", "attribution", "tryon_session", "widget_session", "orders", "amount_cents"
        )
        for day, currency, attribution, tried, seen, n, amount in rolled_orders:
            orders.setdefault((day, currency, attribution, tried, seen), Money()).add(n, amount)
        live_from = watermark + timedelta(days=1)
    live_to = min(end, today) + timedelta(days=1)  # nothing happened after today yet
    if live_from < live_to:
        live = events_funnel_days(store.pk, live_from, live_to)
        days.update(live)
        for (_, product_id), (title, counts) in events_product_funnel(store.pk, live_from, live_to).items():
            add_product(product_id, title, counts)
        for key, money in events_orders(store.pk, live_from, live_to).items():
            orders.setdefault(key, Money()).add(money.orders, money.amount_cents)

    currencies: dict[str, CurrencyFigures] = {}
    by_day: dict[date, dict[str, CurrencyFigures]] = defaultdict(dict)
    attributed = unattributed = with_tryon = without_tryon = 0
    for (day, currency, attribution, tried, seen), money in sorted(orders.items()):
        of_currency = currencies.setdefault(currency, CurrencyFigures(currency))
        for money_figures in (of_currency, by_day[day].setdefault(currency, CurrencyFigures(currency))):
            money_figures.total.add(money.orders, money.amount_cents)
            if attribution == Attribution.HARD:
                money_figures.hard.add(money.orders, money.amount_cents)
            elif attribution == Attribution.SOFT:
                money_figures.soft.add(money.orders, money.amount_cents)
        if attribution == Attribution.NONE:
            unattributed += money.orders
        else:
            attributed += money.orders
        if tried:
            of_currency.with_tryon.add(money.orders, money.amount_cents)
            with_tryon += money.orders
        elif seen:
            of_currency.without_tryon.add(money.orders, money.amount_cents)
            without_tryon += money.orders
        if seen:
            days[day].purchased += money.orders

    total = FunnelDay(start)
    for day_figures in days.values():
        total.add(day_figures)
    returned = _returned_orders(store, start, end)
    debited = _debited_tryons(store, start, min(end, today)) if start <= today else 0
    ranked = sorted(products.values(), key=lambda p: (-p.opened, -p.purchased, p.title, p.product_id))
    return Analytics(
        start=start,
        end=end,
        days=[days[day] for day in sorted(days)],
        total=total,
        products=ranked[:PRODUCTS_SHOWN],
        currencies=sorted(currencies.values(), key=lambda c: (-c.total.orders, c.currency)),
        orders=attributed + unattributed,
        attributed_orders=attributed,
        orders_with_tryon=with_tryon,
        orders_without_tryon=without_tryon,
        returns_attributed=ReturnRate(attributed, returned[True]),
        returns_unattributed=ReturnRate(unattributed, returned[False]),
        debited_tryons=debited,
        money_by_day=dict(by_day),
    )


def _debited_tryons(store: Store, start: date, end: date) -> int:
    """Debited try-ons of start..end: DailyUsage up to its watermark, the later days live."""
    watermark = rolled_through(store.pk)
    count = 0
    live_from = start
    if watermark is not None and watermark >= start:
        rolled = DailyUsage.objects.filter(store=store, day__gte=start, day__lte=min(watermark, end))
        count += rolled.aggregate(n=Sum("debited"))["n"] or 0
        live_from = watermark + timedelta(days=1)
    if live_from <= end:
        count += TryOnEvent.objects.filter(
            store=store,
            debited=True,
            created_at__gte=utc_midnight(live_from),
            created_at__lt=utc_midnight(end + timedelta(days=1)),
        ).count()
    return count


def _returned_orders(store: Store, start: date, end: date) -> Counter[bool]:
    """Orders of the range with at least one return, by whether the order is attributed: live,
    through the returns' conversion index (a store has far fewer returns than orders)."""
    returned: Counter[bool] = Counter()
    end_at = utc_midnight(end + timedelta(days=1)) if end < date.max else None
    rows = OrderReturn.objects.filter(
        store=store, conversion__isnull=False, conversion__created_at__gte=utc_midnight(start)
    )
    if end_at is not None:
        rows = rows.filter(conversion__created_at__lt=end_at)
    counted = rows.values("conversion__attribution").annotate(n=Count("conversion_id", distinct=True)).order_by()
    for row in counted:
        returned[row["conversion__attribution"] != Attribution.NONE] += row["n"]
    return returned
