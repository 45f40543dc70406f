"""POST /api/tryon/track (SPEC §3): the checks in spec order, then one durable transaction that
debits (or records the 402, or the failed try-on) and binds the Idempotency-Key to its answer.

The view hands over the raw request parts and renders the Answer; refusals are raised as ApiError.
Statement budget (pinned in tryon/tests/test_track_budget.py): a legacy success costs the key
lookup, the store and pack debits and the event insert; a per-customer one adds one read (the
revocation, the customer and its period together) and the usage update; a key adds its record.
"""

import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from genvoris.db import insert_row
from genvoris.errors import ApiError, ErrorCode
from genvoris.ids import new_id
from genvoris.ratelimit import check_auth_failures, record_auth_failure
from quotas.models import EndCustomer, UsagePeriod
from quotas.selectors import TrackShopper, track_shopper
from quotas.services import usage_consume_one, usage_period_for_track
from quotas.sessions import SessionClaims, session_claims, session_revoked
from stores.domains import domain_allowed, origin_host
from stores.models import ApiKey, Store
from stores.selectors import api_key_by_plaintext
from stores.services import (
    api_key_mark_used,
    api_key_refusal_count,
    credit_debit_one,
    credit_low_balance_emit,
    credit_packs_expire,
    store_suspended_error,
)
from tryon.models import TryOnEvent
from tryon.services.idempotency import (
    Answer,
    Binding,
    KeyTaken,
    idempotency_bind,
    idempotency_binding,
    idempotency_conflict,
    idempotency_release_expired,
    idempotency_stored,
)
from tryon.services.report import TrackReport, read_report
from tryon.services.webhooks import signals

logger = logging.getLogger("genvoris.tryon")

# Refusals a stranger can cause with a store's public key: counted for the merchant to see,
# never held against the key (SPEC §3).
_COUNTED_REFUSALS = {
    ErrorCode.DOMAIN_NOT_ALLOWED,
    ErrorCode.TOKEN_STORE_MISMATCH,
    ErrorCode.INVALID_SESSION_TOKEN,
}
CREDENTIAL_REFUSALS = {ErrorCode.UNAUTHORIZED, ErrorCode.INVALID_KEY}
_HOST_UNSAFE = re.compile(r"[^a-z0-9.:\[\]_-]")


@dataclass(frozen=True)
class TrackRequest:
    """The parts of one POST /api/tryon/track the service reads, as the view received them."""

    # Reads the body within its size limit (413 past it); called only once step 1 has passed.
    read_body: Callable[[], bytes]
    internal_secret: str | None
    authorization: str
    origin: str | None
    idempotency_key: str | None
    client_ip: str
    # The reference backend calling the service directly (SPEC §18): step 1 is passed by being
    # this server's own code; the store key still comes in the body and steps 2–8 all apply.
    in_process: bool = False


@dataclass(frozen=True)
class Shopper:
    """Step 7's answer for a session token's customer: who, which period, and may they try on."""

    customer_id: int
    period_id: int | None
    used: int
    limit: int
    refusal: ApiError | None  # the 402 a successful try-on gets; a failed one is still recorded

    def figures(self, used: int | None = None) -> dict[str, int]:
        used = self.used if used is None else used
        return {"used": used, "limit": self.limit, "remaining": max(self.limit - used, 0)}


def tryon_track(*, request: TrackRequest, now: datetime) -> Answer:
    """Steps 1–8 of SPEC §3 in order; the first failure answers."""
    try:
        caller = check_caller(request)  # 1
        report = read_report(request.read_body)  # the body, once the caller is known
        key = check_key(caller, report.api_key)  # 2
    except ApiError as refused:
        raise _counted_against_address(refused, request.client_ip) from None
    try:
        check_store_active(key.store)  # 3
        check_domain_allowed(key, report.origin or request.origin)  # 4
        shopper = None
        if report.end_customer_token:
            claims = session_claims(report.end_customer_token, now=now)  # 5
            row = track_shopper(jti=claims.jti, customer_public_id=claims.sub, store_id=key.store_id, now=now)
            check_not_revoked(row)  # 5, revocation, read with the customer
            check_token_store(claims, key.store)  # 6
            shopper = end_customer_quota(row, now)  # 7
    except ApiError as refused:
        _note_refusal(key, refused, origin=report.origin or request.origin, now=now)
        return _replayed_or_raise(_binding_if_valid(key, request, report), refused, now)
    # The header is checked once the checks above passed, so a refusal keeps its own code.
    binding = idempotency_binding(store_id=key.store_id, key=request.idempotency_key, body=report.raw)
    api_key_mark_used(key=key, now=now)
    return _once_per_key(
        binding, now, lambda: account(key=key, shopper=shopper, report=report, binding=binding, now=now)
    )


# --- the steps ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who passed step 1: our internal secret (the store key comes in the body), or a store key."""

    bearer: str | None = None
    key: ApiKey | None = None


def check_caller(request: TrackRequest) -> Caller:
    """Step 1: the internal secret, or a secret store key as `Bearer`.

    A Bearer key is the credential itself, so it is looked up here: a made-up one is refused (and
    counted against the address) before its body is read, and learns nothing about it.
    """
    if request.in_process:
        return Caller()
    if request.internal_secret is not None:
        if not _internal_secret_ok(request.internal_secret):
            raise ApiError(ErrorCode.UNAUTHORIZED, "The x-internal-secret header is not valid.")
        return Caller()
    scheme, _, credential = request.authorization.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        bearer = credential.strip()
        key = _usable_key(bearer)
        if key.kind != ApiKey.Kind.SECRET:
            raise ApiError(
                ErrorCode.INSUFFICIENT_SCOPE,
                "A publishable key cannot authenticate a server; use a secret key (gvk_live_…).",
            )
        return Caller(bearer=bearer, key=key)
    raise ApiError(
        ErrorCode.UNAUTHORIZED,
        "Authenticate with an x-internal-secret header or an Authorization: Bearer secret store key.",
    )


def _internal_secret_ok(secret: str) -> bool:
    # Compare with every configured secret, without stopping early, in constant time each.
    matches = [hmac.compare_digest(secret.encode(), s.encode()) for s in settings.TRYON_INTERNAL_SECRET]
    return any(matches)


def check_key(caller: Caller, body_key: str | None) -> ApiKey:
    """Step 2: the key exists, is active and has a known prefix (and is the Bearer key, if any)."""
    if caller.key is not None:
        if body_key not in (None, caller.bearer):
            raise ApiError(ErrorCode.INVALID_KEY, "The api_key in the body is not the key in the Authorization header.")
        if caller.key.kind != ApiKey.Kind.SECRET:
            raise ApiError(
                ErrorCode.INSUFFICIENT_SCOPE,
                "A publishable key cannot authenticate a server; use a secret key (gvk_live_…).",
            )
        return caller.key
    if not body_key:
        raise ApiError(
            ErrorCode.INVALID_KEY,
            "An api_key is required.",
            detail="With x-internal-secret, the body must carry the store's api_key.",
        )
    return _usable_key(body_key)


def _usable_key(text: str) -> ApiKey:
    key = api_key_by_plaintext(text)
    if key is None or not key.is_usable:
        raise ApiError(ErrorCode.INVALID_KEY, "The API key is not valid.", detail=_key_problem(key))
    return key


def _key_problem(key: ApiKey | None) -> str:
    return "No such API key." if key is None else "This API key has been revoked."


def check_store_active(store: Store) -> None:
    if not store.is_active:
        raise store_suspended_error(store)


def check_domain_allowed(key: ApiKey, origin: str | None) -> None:
    if not domain_allowed(key.allowed_domains, origin):
        # Never the list itself: the caller may be anyone (SPEC §3). The merchant sees it, and
        # these refusals, in the portal.
        raise ApiError(
            ErrorCode.DOMAIN_NOT_ALLOWED,
            "The origin is not on this API key's domain allowlist.",
            detail=f"The origin {'sent' if origin else '(none sent)'} is not on the domain allowlist of key "
            f"{key.prefix}…; the store's owner can see and change the list in the portal.",
        )


def check_not_revoked(row: TrackShopper) -> None:
    if row.revoked:
        raise session_revoked()


def check_token_store(claims: SessionClaims, store: Store) -> None:
    if claims.sid != store.public_id:
        raise ApiError(
            ErrorCode.TOKEN_STORE_MISMATCH,
            "The session token was issued for another store than the API key's.",
        )


def end_customer_quota(row: TrackShopper, now: datetime) -> Shopper:
    """Step 7: the customer exists in the store; its period is rolled forward if it ended; then
    paused, cancelled, no plan or a used-up quota is the 402 a successful try-on will get."""
    if row.customer_id is None:
        raise ApiError(
            ErrorCode.INVALID_SESSION_TOKEN,
            "The end-customer session token is not valid.",
            detail="The token's customer does not exist in this store.",
            cause="unknown_customer",
        )
    row = usage_period_for_track(shopper=row, now=now)
    assert row.customer_id is not None
    shopper = Shopper(
        customer_id=row.customer_id, period_id=row.period_id, used=row.used, limit=row.limit, refusal=None
    )
    reason = _quota_refusal(row)
    return shopper if reason is None else _with_refusal(shopper, reason)


def _quota_refusal(row: TrackShopper) -> str | None:
    if row.status == EndCustomer.Status.PAUSED:
        return "paused"
    if row.status == EndCustomer.Status.CANCELLED:
        return "cancelled"
    if not row.has_plan or row.period_id is None:
        return "no_plan"
    if row.used >= row.limit:
        return "quota_exhausted"
    return None


def _with_refusal(shopper: Shopper, reason: str) -> Shopper:
    return replace(shopper, refusal=quota_error(reason, shopper.figures()))


_QUOTA_MESSAGES = {
    "quota_exhausted": "The customer has used every try-on of this period.",
    "no_plan": "The customer has no plan.",
    "paused": "The customer's plan is paused.",
    "cancelled": "The customer's plan is cancelled.",
}


def quota_error(reason: str, figures: dict[str, int]) -> ApiError:
    return ApiError(
        ErrorCode.END_CUSTOMER_QUOTA,
        _QUOTA_MESSAGES[reason],
        detail=f"{_QUOTA_MESSAGES[reason]} Used {figures['used']} of {figures['limit']}; nothing was debited.",
        reason=reason,
        limit=figures["limit"],
        used=figures["used"],
    )


def check_credit_pool(store: Store) -> None:
    """Step 8, on the balance read with the key; the debit's conditional update decides races."""
    if store.credit_balance < 1:
        raise credit_error()


def credit_error() -> ApiError:
    return ApiError(
        ErrorCode.CREDIT_LIMIT_REACHED,
        "The store's credit pool is empty.",
        detail="The store has no credits left; a top-up is needed before more try-ons can run.",
    )


# --- accounting: one durable transaction per outcome, the key bound inside it -------------------


def account(
    *, key: ApiKey, shopper: Shopper | None, report: TrackReport, binding: Binding | None, now: datetime
) -> Answer:
    """Record what the report says happened: a failed try-on, a debit, or the 402 that blocked it."""
    if not report.success:
        return _record_failed(key=key, shopper=shopper, report=report, binding=binding, now=now)
    try:
        if shopper is not None and shopper.refusal is not None:
            raise shopper.refusal  # 7
        check_credit_pool(key.store)  # 8
        return _debit(key=key, shopper=shopper, report=report, binding=binding, now=now)
    except ApiError as blocked:  # only the 402s of steps 7 and 8 reach here
        return _record_blocked(key=key, shopper=shopper, report=report, binding=binding, error=blocked, now=now)


@transaction.atomic(durable=True)
def _debit(
    *, key: ApiKey, shopper: Shopper | None, report: TrackReport, binding: Binding | None, now: datetime
) -> Answer:
    # Lock order usage row → store row → pack row, the same in every transaction that takes
    # more than one of them, so concurrent try-ons queue instead of deadlocking.
    body: dict[str, Any] = {"success": True, "remaining_credits": 0, "variation_count": report.variation_count}
    used = limit = None
    if shopper is not None:
        assert shopper.period_id is not None  # no period is a refusal (no_plan)
        consumed = usage_consume_one(period_id=shopper.period_id)
        if consumed is None:  # a concurrent try-on took the last one since step 7 read it
            used, limit = UsagePeriod.objects.values_list("used", "limit").get(pk=shopper.period_id)
            raise quota_error("quota_exhausted", {"used": used, "limit": limit})
        used, limit = consumed
        body["end_customer_quota"] = shopper.figures(used=used)
    # The event before the store row: the store's lock is the one every try-on of the store
    # queues on, so it is taken as late as possible and held for two statements and COMMIT.
    outcome = TryOnEvent.Outcome.DEBITED
    webhooks = signals(key.store.webhook_topics, outcome, used=used, limit=limit)
    public_id = _event(
        key=key, shopper=shopper, report=report, outcome=outcome, now=now, debited=True, webhooks=webhooks
    )
    balance = credit_debit_one(store_id=key.store_id, now=now)
    if balance is None:
        raise credit_error()
    # Only the one debit that crosses the threshold writes an event here: one statement, once.
    credit_low_balance_emit(store=key.store, before=balance + 1, after=balance, now=now, source=public_id)
    body["remaining_credits"] = balance
    return _bound(binding, Answer(200, body, outcome=outcome), now)


@transaction.atomic(durable=True)
def _record_failed(
    *, key: ApiKey, shopper: Shopper | None, report: TrackReport, binding: Binding | None, now: datetime
) -> Answer:
    outcome = TryOnEvent.Outcome.FAILED
    _event(
        key=key,
        shopper=shopper,
        report=report,
        outcome=outcome,
        now=now,
        webhooks=signals(key.store.webhook_topics, outcome),
    )
    body: dict[str, Any] = {
        "success": True,
        "remaining_credits": key.store.credit_balance,
        "variation_count": report.variation_count,
    }
    if shopper is not None:
        body["end_customer_quota"] = shopper.figures()
    return _bound(binding, Answer(200, body, outcome=outcome), now)


def _record_blocked(
    *,
    key: ApiKey,
    shopper: Shopper | None,
    report: TrackReport,
    binding: Binding | None,
    error: ApiError,
    now: datetime,
) -> Answer:
    """A 402 is blocked demand the merchant wants to see; it is recorded, never debited."""
    with transaction.atomic(durable=True):
        outcome = TryOnEvent.Outcome(str(error.code))
        reason = error.extra.get("reason", "")
        webhooks = signals(key.store.webhook_topics, outcome, reason=reason)
        _event(key=key, shopper=shopper, report=report, outcome=outcome, reason=reason, now=now, webhooks=webhooks)
        answer = _bound(binding, Answer(error.status, error.body(), outcome=outcome), now)
    if error.code == ErrorCode.CREDIT_LIMIT_REACHED and key.store.credit_balance > 0:
        # The balance was held by packs past expiry that the job had not written off yet.
        credit_packs_expire(now=now, store=key.store)
    return answer


def _bound(binding: Binding | None, answer: Answer, now: datetime) -> Answer:
    if binding is not None:
        idempotency_bind(binding=binding, answer=answer, now=now)
    return answer


def _event(
    *,
    key: ApiKey,
    shopper: Shopper | None,
    report: TrackReport,
    outcome: str,
    now: datetime,
    debited: bool = False,
    reason: str = "",
    webhooks: int = 0,
) -> str:
    """Insert the try-on's row; its public id. `webhooks` flags it for the outbox."""
    public_id = new_id(TryOnEvent.ID_PREFIX)
    insert_row(
        TryOnEvent,
        {
            "public_id": public_id,
            "store_id": key.store_id,
            "api_key_id": key.pk,
            "end_customer_id": shopper.customer_id if shopper else None,
            "product_type": report.product_type,
            "product_title": report.product_title,
            "page_url": report.page_url,
            "origin": report.origin,
            "variation_count": report.variation_count,
            "generation_time_ms": report.generation_time_ms,
            "success": report.success,
            "outcome": outcome,
            "reason": reason,
            "debited": debited,
            "created_at": now,
            "webhooks": webhooks,
            "widget_session_id": report.widget_session_id or "",
        },
    )
    return public_id


# --- idempotency and refusals -------------------------------------------------------------------


def _once_per_key(binding: Binding | None, now: datetime, outcome: Callable[[], Answer]) -> Answer:
    """Run the outcome's transaction; if another request bound the key first, replay its answer."""
    if binding is None:
        return outcome()
    for _ in range(2):
        try:
            return outcome()
        except KeyTaken:
            stored = idempotency_stored(binding=binding, now=now)
            if stored is not None:
                return stored
            # The record that took the key is past its 24 hours (or was pruned just now).
            idempotency_release_expired(binding=binding, now=now)
    raise idempotency_conflict()


def _binding_if_valid(key: ApiKey, request: TrackRequest, report: TrackReport) -> Binding | None:
    try:
        return idempotency_binding(store_id=key.store_id, key=request.idempotency_key, body=report.raw)
    except ApiError:  # a malformed key binds nothing, so there is nothing to replay
        return None


def _replayed_or_raise(binding: Binding | None, refused: ApiError, now: datetime) -> Answer:
    """A retry refused now (say the store was suspended since) still gets its first answer."""
    stored = idempotency_stored(binding=binding, now=now) if binding is not None else None
    if stored is None:
        raise refused
    return stored


def _counted_against_address(refused: ApiError, ip: str) -> ApiError:
    """A failed credential counts against the caller's address; past the limit it is a 429.

    Only failures touch the cache, so a valid credential is never slowed or limited (SPEC §3).
    """
    if refused.code not in CREDENTIAL_REFUSALS:
        return refused
    try:
        check_auth_failures(ip)
    except ApiError as limited:
        return limited
    record_auth_failure(ip)
    return refused


def _note_refusal(key: ApiKey, refused: ApiError, *, origin: str | None, now: datetime) -> None:
    # Stored and shown to the merchant: a host's own characters only, whatever the caller sent.
    host = _HOST_UNSAFE.sub("?", origin_host(origin) or "")[:253]
    # repr(): the origin is the caller's text, and a newline in it must not forge a log line.
    logger.info("track refused for key %s: %s (origin host %r)", key.prefix, refused.code, host)
    if refused.code in _COUNTED_REFUSALS:
        api_key_refusal_count(key=key, cause=str(refused.code), origin_host=host, now=now)
