"""POST /api/tryon/track: the checks of SPEC §3 in order, then one short debit transaction.

Also the daily usage rollups, written by a command long after the try-ons they count."""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from genvoris.errors import ApiError, ErrorCode
from quotas.models import EndCustomer, UsagePeriod
from quotas.services import usage_consume_one, usage_period_current
from quotas.sessions import SessionClaims, session_verify
from stores.domains import domain_allowed
from stores.models import ApiKey, Store
from stores.services import api_key_mark_used, api_key_record_failure, credit_debit_one, credit_packs_expire
from tryon.models import DailyProductUsage, DailyUsage, TryOnEvent
from tryon.selectors import events_daily_figures, events_product_figures, rolled_through

logger = logging.getLogger("genvoris.tryon")

# Refusals that say the key itself is being misused; 50 in a row lock it (SPEC §3).
_KEY_MISUSE = {ErrorCode.DOMAIN_NOT_ALLOWED, ErrorCode.TOKEN_STORE_MISMATCH}


@dataclass(frozen=True)
class TrackInput:
    product_type: str
    variation_count: int
    generation_time_ms: int | None
    success: bool
    page_url: str
    product_title: str
    origin: str
    end_customer_token: str | None


@dataclass(frozen=True)
class TrackResult:
    remaining_credits: int
    variation_count: int
    quota: UsagePeriod | None
    customer: EndCustomer | None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "success": True,
            "remaining_credits": self.remaining_credits,
            "variation_count": self.variation_count,
        }
        if self.customer is not None:
            body["end_customer_quota"] = _quota_figures(self.quota)
        return body


def tryon_track(*, key: ApiKey, data: TrackInput, origin_header: str | None, now: datetime) -> TrackResult:
    """Steps 3–8 and the debit. Steps 1–2 (caller and key) are the view's, before the body is trusted."""
    store = key.store
    try:
        check_store_active(store)  # 3
        check_domain_allowed(key, data.origin or origin_header)  # 4
        customer = None
        if data.end_customer_token:
            claims = session_verify(data.end_customer_token, now=now)  # 5
            check_token_store(claims, store)  # 6
            customer = end_customer_of(claims, store)  # 7, the customer must exist
    except ApiError as refused:
        _note_refusal(key, refused)
        raise
    api_key_mark_used(key=key, now=now)
    if not data.success:
        return _record_failed(key=key, customer=customer, data=data, now=now)
    period = None
    try:
        if customer is not None:
            period = check_end_customer_quota(customer, now)  # 7
        check_credit_pool(store)  # 8
        return _debit(key=key, customer=customer, period=period, data=data, now=now)
    except ApiError as blocked:
        _record_blocked(key=key, customer=customer, data=data, error=blocked, now=now)
        raise


def check_store_active(store: Store) -> None:
    if not store.is_active:
        raise ApiError(
            ErrorCode.ACCOUNT_INACTIVE,
            "This store's account is suspended.",
            detail="This store's account is suspended; contact Genvoris support to reactivate it.",
        )


def check_domain_allowed(key: ApiKey, origin: str | None) -> None:
    if not domain_allowed(key.allowed_domains, origin):
        raise ApiError(
            ErrorCode.DOMAIN_NOT_ALLOWED,
            "The origin is not on this API key's domain allowlist.",
            detail=f"Origin {origin or '(none)'} is not allowed for key {key.prefix}…; allowed: "
            + ", ".join(key.allowed_domains),
        )


def check_token_store(claims: SessionClaims, store: Store) -> None:
    if claims.sid != store.public_id:
        raise ApiError(
            ErrorCode.TOKEN_STORE_MISMATCH,
            "The session token was issued for another store than the API key's.",
        )


def end_customer_of(claims: SessionClaims, store: Store) -> EndCustomer:
    customer = EndCustomer.objects.select_related("plan").filter(public_id=claims.sub, store=store).first()
    if customer is None:
        raise ApiError(
            ErrorCode.INVALID_SESSION_TOKEN,
            "The end-customer session token is not valid.",
            detail="The token's customer does not exist in this store.",
        )
    return customer


def check_end_customer_quota(customer: EndCustomer, now: datetime) -> UsagePeriod | None:
    period = usage_period_current(customer=customer, now=now)
    if customer.status == EndCustomer.Status.PAUSED:
        raise quota_error("paused", period)
    if customer.status == EndCustomer.Status.CANCELLED:
        raise quota_error("cancelled", period)
    if customer.plan is None or period is None:
        raise quota_error("no_plan", period)
    if period.used >= period.limit:
        raise quota_error("quota_exhausted", period)
    return period


_QUOTA_MESSAGES = {
    "quota_exhausted": "The customer has used every try-on of this period.",
    "no_plan": "The customer has no plan.",
    "paused": "The customer's plan is paused.",
    "cancelled": "The customer's plan is cancelled.",
}


def quota_error(reason: str, period: UsagePeriod | None) -> ApiError:
    figures = _quota_figures(period)
    return ApiError(
        ErrorCode.END_CUSTOMER_QUOTA,
        _QUOTA_MESSAGES[reason],
        detail=f"{_QUOTA_MESSAGES[reason]} Used {figures['used']} of {figures['limit']}; nothing was debited.",
        reason=reason,
        limit=figures["limit"],
        used=figures["used"],
    )


def check_credit_pool(store: Store) -> None:
    if store.credit_balance < 1:
        raise credit_error()


def credit_error() -> ApiError:
    return ApiError(
        ErrorCode.CREDIT_LIMIT_REACHED,
        "The store's credit pool is empty.",
        detail="The store has no credits left; a top-up is needed before more try-ons can run.",
    )


@transaction.atomic(durable=True)
def _debit(
    *, key: ApiKey, customer: EndCustomer | None, period: UsagePeriod | None, data: TrackInput, now: datetime
) -> TrackResult:
    # Lock order usage row → store row → pack row, the same in every transaction that takes
    # more than one of them, so concurrent try-ons queue instead of deadlocking.
    if period is not None:
        used = usage_consume_one(period_id=period.pk)
        if used is None:
            period.refresh_from_db(fields=["used", "limit"])
            raise quota_error("quota_exhausted", period)
        period.used = used
    _event(key=key, customer=customer, data=data, outcome=TryOnEvent.Outcome.DEBITED, now=now, debited=True)
    balance = credit_debit_one(store_id=key.store_id, now=now)
    if balance is None:
        raise credit_error()
    return TrackResult(remaining_credits=balance, variation_count=data.variation_count, quota=period, customer=customer)


def _record_failed(*, key: ApiKey, customer: EndCustomer | None, data: TrackInput, now: datetime) -> TrackResult:
    period = usage_period_current(customer=customer, now=now) if customer is not None else None
    _event(key=key, customer=customer, data=data, outcome=TryOnEvent.Outcome.FAILED, now=now)
    return TrackResult(
        remaining_credits=key.store.credit_balance,
        variation_count=data.variation_count,
        quota=period,
        customer=customer,
    )


def _record_blocked(
    *, key: ApiKey, customer: EndCustomer | None, data: TrackInput, error: ApiError, now: datetime
) -> None:
    """A 402 is blocked demand the merchant wants to see; it is recorded, never debited."""
    if error.status != 402:
        return
    _event(
        key=key,
        customer=customer,
        data=data,
        outcome=TryOnEvent.Outcome(str(error.code)),
        reason=error.extra.get("reason", ""),
        now=now,
    )
    if error.code == ErrorCode.CREDIT_LIMIT_REACHED and key.store.credit_balance > 0:
        # The balance was held by packs past expiry that the job had not written off yet.
        credit_packs_expire(now=now, store=key.store)


def _event(
    *,
    key: ApiKey,
    customer: EndCustomer | None,
    data: TrackInput,
    outcome: str,
    now: datetime,
    debited: bool = False,
    reason: str = "",
) -> TryOnEvent:
    return TryOnEvent.objects.create(
        store_id=key.store_id,
        api_key=key,
        end_customer=customer,
        product_type=data.product_type,
        product_title=data.product_title,
        page_url=data.page_url,
        origin=data.origin,
        variation_count=data.variation_count,
        generation_time_ms=data.generation_time_ms,
        success=data.success,
        outcome=outcome,
        reason=reason,
        debited=debited,
        created_at=now,
    )


def _note_refusal(key: ApiKey, refused: ApiError) -> None:
    logger.info("track refused for key %s: %s (%s)", key.prefix, refused.code, refused.detail)
    if refused.code in _KEY_MISUSE and api_key_record_failure(key=key, lock_after=settings.API_KEY_LOCK_AFTER_FAILURES):
        logger.warning("key %s locked after %s refusals in a row", key.prefix, settings.API_KEY_LOCK_AFTER_FAILURES)


def _quota_figures(period: UsagePeriod | None) -> dict[str, int]:
    if period is None:
        return {"used": 0, "limit": 0, "remaining": 0}
    return {"used": period.used, "limit": period.limit, "remaining": period.remaining}


# --- Daily usage rollups (the usage pages' fast path; SPEC §9) --------------------------------

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
