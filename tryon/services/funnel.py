"""The funnel, orders and returns (SPEC §16): every write of them, and the attribution decision.

- `widget_events_record` stores a batch of the widget's events in one INSERT, all or none.
- `conversion_record` stores an order once per (store, platform, orderId): a repeat answers the
  first row, also when duplicates race (the unique constraint decides; the loser reads the winner).
- `order_return_record` stores a refund, linked to its order's conversion when there is one; an
  `Idempotency-Key` makes a retry answer the first return instead of recording a second refund.

Emails are never stored: a conversion keeps the SHA-256 of the normalised address, and soft
attribution compares the normalised address with the store's shoppers' (quotas index 0003).
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Subquery
from django.db.models.functions import Lower, Trim

from quotas.models import EndCustomer
from stores.models import Store
from tryon.models import Conversion, OrderReturn, TryOnEvent, WidgetEvent
from tryon.services.idempotency import (
    Answer,
    Binding,
    KeyTaken,
    idempotency_bind,
    idempotency_binding,
    idempotency_conflict,
    idempotency_stored,
)

MAX_EVENTS = 50
DEFAULT_WINDOW_MINUTES = 1440
MAX_WINDOW_MINUTES = 43_200  # 30 days: past that an order says nothing about a try-on
# Returns and track share the store's Idempotency-Key records; a return's key lives under its own
# prefix (hashed, so a 255-character key still fits the column), so the two never collide.
_RETURN_KEY_PREFIX = "returns:"


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelEvent:
    session_id: str
    event_type: str
    product_id: str = ""
    product_title: str = ""
    page_url: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@transaction.atomic(durable=True)
def widget_events_record(*, store: Store, events: list[FunnelEvent], now: datetime) -> int:
    """One statement for the whole batch: it is stored entirely or not at all."""
    WidgetEvent.objects.bulk_create(
        [
            WidgetEvent(
                store=store,
                session_id=event.session_id,
                event_type=event.event_type,
                product_id=event.product_id,
                product_title=event.product_title,
                page_url=event.page_url,
                metadata=event.metadata,
                created_at=now,
            )
            for event in events
        ]
    )
    return len(events)


# --- conversions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    platform: str
    order_id: str
    amount_cents: int
    currency: str = "USD"
    quantity: int | None = None
    product_id: str = ""
    product_title: str = ""
    session_id: str = ""
    customer_email: str = ""
    window_minutes: int = DEFAULT_WINDOW_MINUTES


@dataclass(frozen=True)
class ConversionResult:
    conversion: Conversion
    deduped: bool


def normalised_email(email: str) -> str:
    return email.strip().lower()


def email_hash(email: str) -> str:
    """SHA-256 hex of the normalised address; empty for no address."""
    normal = normalised_email(email)
    return hashlib.sha256(normal.encode("utf-8", "surrogatepass")).hexdigest() if normal else ""


def conversion_record(*, store: Store, order: Order, now: datetime) -> ConversionResult:
    """The order's conversion: the first report of (store, platform, orderId) is stored, any later
    one answers it unchanged. Attribution is decided once, when the order is first reported."""
    existing = _conversion_of(store, order.platform, order.order_id)
    if existing is not None:
        return ConversionResult(existing, deduped=True)
    attribution, tryon_event_id = conversion_attribution(store=store, order=order, now=now)
    try:
        with transaction.atomic(durable=True):
            conversion = Conversion.objects.create(
                store=store,
                platform=order.platform,
                order_id=order.order_id,
                amount_cents=order.amount_cents,
                currency=order.currency,
                quantity=order.quantity,
                product_id=order.product_id,
                product_title=order.product_title,
                session_id=order.session_id,
                email_hash=email_hash(order.customer_email),
                attribution_window_minutes=order.window_minutes,
                attribution=attribution,
                tryon_event_id=tryon_event_id,
                created_at=now,
            )
    except IntegrityError:
        # A concurrent duplicate inserted first: PostgreSQL made this insert wait for it to commit,
        # then refused it in the unique index, so the winner's row is there to read now.
        winner = _conversion_of(store, order.platform, order.order_id)
        if winner is None:
            raise
        return ConversionResult(winner, deduped=True)
    return ConversionResult(conversion, deduped=False)


def _conversion_of(store: Store, platform: str, order_id: str) -> Conversion | None:
    return Conversion.objects.filter(store=store, platform=platform, order_id=order_id).first()


def conversion_attribution(*, store: Store, order: Order, now: datetime) -> tuple[str, int | None]:
    """Hard: the order's visit had a debited try-on before the order. Soft: the buyer's address is
    a shopper's of this store who had one within the window. Each credits the latest such try-on."""
    if order.session_id:
        hard = _latest_debited(TryOnEvent.objects.filter(widget_session_id=order.session_id), store, now)
        if hard is not None:
            return Conversion.Attribution.HARD, hard
    if normalised_email(order.customer_email):
        soft = _latest_debited(
            TryOnEvent.objects.filter(
                end_customer__in=Subquery(_shoppers_with_email(store, order.customer_email)),
                created_at__gte=now - timedelta(minutes=order.window_minutes),
            ),
            store,
            now,
        )
        if soft is not None:
            return Conversion.Attribution.SOFT, soft
    return Conversion.Attribution.NONE, None


def _latest_debited(events: Any, store: Store, now: datetime) -> int | None:
    pk: int | None = (
        events.filter(store=store, debited=True, created_at__lte=now)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return pk


def _shoppers_with_email(store: Store, email: str) -> Any:
    # The expression is the one of the index quotas_customer_email_idx.
    return (
        EndCustomer.objects.filter(store=store)
        .annotate(normal_email=Lower(Trim("email")))
        .filter(normal_email=normalised_email(email))
        .values("pk")
    )


# --- returns -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refund:
    platform: str
    order_id: str
    refunded_amount_cents: int
    currency: str = "USD"
    reason: str = ""


def order_return_binding(*, store: Store, key: str | None, body: dict[str, Any]) -> Binding | None:
    """The request's Idempotency-Key (1–255 chars, else 400), in the returns' own namespace."""
    binding = idempotency_binding(store_id=store.pk, key=key, body=body)
    if binding is None:
        return None
    digest = hashlib.sha256(binding.key.encode("utf-8", "surrogatepass")).hexdigest()
    return Binding(store_id=binding.store_id, key=f"{_RETURN_KEY_PREFIX}{digest}", fingerprint=binding.fingerprint)


def order_return_record(*, store: Store, refund: Refund, binding: Binding | None, now: datetime) -> Answer:
    """Each call records one refund (orders are refunded in parts), unless its Idempotency-Key was
    used before: then the first answer is replayed and nothing is recorded."""
    if binding is not None:
        stored = idempotency_stored(binding=binding, now=now)
        if stored is not None:
            return stored
    try:
        return _record_refund(store=store, refund=refund, binding=binding, now=now)
    except KeyTaken:
        # A concurrent retry with the same key committed first; its refund is the one recorded.
        assert binding is not None
        stored = idempotency_stored(binding=binding, now=now)
        if stored is None:
            raise idempotency_conflict() from None
        return stored


@transaction.atomic(durable=True)
def _record_refund(*, store: Store, refund: Refund, binding: Binding | None, now: datetime) -> Answer:
    conversion = _conversion_of(store, refund.platform, refund.order_id)
    order_return = OrderReturn.objects.create(
        store=store,
        platform=refund.platform,
        order_id=refund.order_id,
        refunded_amount_cents=refund.refunded_amount_cents,
        currency=refund.currency,
        reason=refund.reason,
        conversion=conversion,
        created_at=now,
    )
    answer = Answer(
        201, {"id": order_return.public_id, "conversionEventId": conversion.public_id if conversion else None}
    )
    if binding is not None:
        idempotency_bind(binding=binding, answer=answer, now=now)  # last: commits with the refund
    return answer
