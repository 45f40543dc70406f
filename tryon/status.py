"""May the try-on run here, now? (SPEC §15) One decision for the widget, the plugins and the SDK.

`status_decide` reads the key with its store (the caller has it already), and with a session token
one statement more: the token's revocation, its customer, plan and current period together
(`quotas.selectors.status_shopper`). It never writes. The answer is kept 10 s per (key, token) in
the shared cache under a SHA-256 of the pair, never the plaintext, so a widget that asks on every
open costs the database nothing most of the time; a revocation, suspension or top-up therefore
shows within 10 s. The decision runs the track checks of SPEC §3 in their order, so that what the
status says is what track would answer to a try-on now.

It lives in `tryon` because it needs all three layers below the widget: the key and store
(`stores`), the customer and quota (`quotas`), and track's own refusals (`tryon.services.track`).
"""

import hashlib
import logging
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from django.core.cache import cache

from genvoris.errors import ApiError, ErrorCode
from genvoris.fields import iso_utc
from quotas.models import EndCustomer
from quotas.selectors import StatusShopper, status_shopper
from quotas.sessions import session_claims, session_revoked
from stores.domains import domain_allowed
from stores.models import ApiKey
from tryon.services.track import check_token_store

logger = logging.getLogger("genvoris.tryon.status")

CACHE_SECONDS = 10
MAX_KEY_LENGTH = 200
MAX_TOKEN_LENGTH = 8192


class Access(StrEnum):
    ALLOWED = "ALLOWED"
    LOCKED = "LOCKED"  # store suspended, key revoked, customer paused or cancelled, no plan
    EXHAUSTED = "EXHAUSTED"  # the shopper's quota or the store's credits are used up
    ERROR = "ERROR"  # transient: ask again later


# The reason beside `access`, for consumers that say more than the state (the widget does).
_MESSAGES = {
    "key_revoked": "Virtual try-on is not available here: this store's API key has been revoked.",
    "store_suspended": "Virtual try-on is not available from this store right now.",
    "domain_not_allowed": "Virtual try-on is not enabled on this website.",
    "paused": "Your try-on plan is paused.",
    "cancelled": "Your try-on plan has been cancelled.",
    "no_plan": "You have no try-on plan yet.",
    "credits_exhausted": "Virtual try-on is not available from this store right now: its try-on credits are used up.",
}


@dataclass(frozen=True)
class Status:
    """One status answer. `credits` and `allowed_domains` are for the renderers, not the wire:
    the balance goes out only to a secret key on /api/v1/status, the allowlist never."""

    access: str
    reason: str | None
    message: str
    quota: dict[str, Any] | None = None
    plan: str | None = None
    external_id: str | None = None
    credits: dict[str, Any] | None = None
    allowed_domains: tuple[str, ...] = ()

    def body(self, *, with_credits: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access": self.access,
            "reason": self.reason,
            "message": self.message,
            "plan": self.plan,
            "externalId": self.external_id,
        }
        if self.quota is not None:
            body["quota"] = self.quota
        if with_credits and self.credits is not None:
            body["credits"] = self.credits
        return body

    def for_origin(self, origin: str | None) -> "Status":
        """A browser's Origin outside the key's allowlist is refused by track (step 4), so the
        status says so. Without an Origin (a plugin's server asking) there is nothing to check."""
        if not origin or self.access == Access.LOCKED or domain_allowed(list(self.allowed_domains), origin):
            return self
        return replace(self, access=Access.LOCKED, reason="domain_not_allowed", message=_MESSAGES["domain_not_allowed"])


def status_decide(*, key: ApiKey, token: str | None, now: datetime) -> Status:
    """Track's checks (SPEC §3 steps 2–8) read, not performed: the first that would refuse decides.

    A bad token raises `401 invalid_session_token` or `403 token_store_mismatch`, as track would.
    """
    store = key.store
    if not key.is_usable:
        return _locked("key_revoked")
    credits = {"remaining": store.credit_balance, "lowBalance": store.credit_balance < store.low_balance_threshold}
    facts: dict[str, Any] = {"credits": credits, "allowed_domains": tuple(key.allowed_domains or ())}
    if not store.is_active:
        return _locked("store_suspended", **facts)
    if token:
        shopper = _shopper(key, token, now)
        facts |= {
            "quota": {"used": shopper.used, "limit": shopper.limit, "resetsAt": iso_utc(shopper.period_end)},
            "plan": shopper.plan_name,
            "external_id": shopper.external_id,
        }
        refusal = _shopper_refusal(shopper)
        if refusal is not None:
            return _locked(refusal, **facts)
        if shopper.used >= shopper.limit:
            return Status(Access.EXHAUSTED, "quota_exhausted", _quota_exhausted(shopper), **facts)
    if store.credit_balance < 1:
        return Status(Access.EXHAUSTED, "credits_exhausted", _MESSAGES["credits_exhausted"], **facts)
    return Status(Access.ALLOWED, None, _allowed(facts.get("quota")), **facts)


def _locked(reason: str, **facts: Any) -> Status:
    return Status(Access.LOCKED, reason, _MESSAGES[reason], **facts)


def _shopper(key: ApiKey, token: str, now: datetime) -> StatusShopper:
    claims = session_claims(token, now=now)  # 5
    shopper = status_shopper(jti=claims.jti, customer_public_id=claims.sub, store_id=key.store_id, now=now)
    if shopper.revoked:  # 5, read with the customer
        raise session_revoked()
    check_token_store(claims, key.store)  # 6
    if not shopper.found:  # 7
        raise ApiError(
            ErrorCode.INVALID_SESSION_TOKEN,
            "The end-customer session token is not valid.",
            detail="The token's customer does not exist in this store.",
        )
    return shopper


def _shopper_refusal(shopper: StatusShopper) -> str | None:
    if shopper.status == EndCustomer.Status.PAUSED:
        return "paused"
    if shopper.status == EndCustomer.Status.CANCELLED:
        return "cancelled"
    if shopper.plan_name is None:
        return "no_plan"
    return None


def _quota_exhausted(shopper: StatusShopper) -> str:
    assert shopper.period_end is not None
    renews = shopper.period_end.astimezone(UTC)
    return f"You have used all {shopper.limit} try-ons of this period; they renew on {renews.day} {renews:%B %Y}."


def _allowed(quota: dict[str, Any] | None) -> str:
    if quota is None:
        return "Virtual try-on is available."
    left = max(quota["limit"] - quota["used"], 0)
    return f"Virtual try-on is available: {left} of {quota['limit']} try-ons left this period."


# --- the 10-second cache ------------------------------------------------------------------------


def _cache_key(key_text: str, token: str | None) -> str:
    # Length-prefixed, so no (key, token) pair can be spelled as another; hashed, so neither the
    # key nor the token is ever written to the cache.
    pair = f"{len(key_text)}:{key_text}{token or ''}"
    return "status:" + hashlib.sha256(pair.encode("utf-8", "surrogatepass")).hexdigest()


def status_cached(key_text: str, token: str | None) -> Status | None:
    """The answer given for this (key, token) in the last 10 s, or None. A cache that cannot be
    reached is a miss (logged): the answer is then read from the database."""
    try:
        value = cache.get(_cache_key(key_text, token))
    except Exception:  # any backend's connection error or timeout
        logger.warning("status cache unreachable; reading the database", exc_info=True)
        return None
    if not isinstance(value, dict):
        return None
    try:
        return Status(**{**value, "allowed_domains": tuple(value.get("allowed_domains", ()))})
    except TypeError:  # a shape from another release of this code
        return None


def status_remember(key_text: str, token: str | None, status: Status) -> None:
    try:
        cache.set(_cache_key(key_text, token), asdict(status), timeout=CACHE_SECONDS)
    except Exception:
        logger.warning("status cache unreachable; not caching", exc_info=True)
