"""Every write to stores, keys and credits. Balances move only through conditional F() updates."""

import getpass
import logging
import os
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from genvoris.errors import ApiError, ErrorCode, invalid_field
from genvoris.fields import iso_utc
from stores.domains import normalize_domain_entry
from stores.models import (
    PACK_VALIDITY_DAYS,
    ApiKey,
    AuditEntry,
    ButtonDesign,
    CreditLedgerEntry,
    CreditPack,
    KeyRefusal,
    Membership,
    Store,
)
from stores.selectors import api_key_hash, button_design_of, public_button_design_forget
from stores.webhooks.events import webhook_emit

MAX_TOPUP_CREDITS = 10_000_000
# CreditPack.price_per_credit keeps 10 digits, 4 of them decimals: a price it cannot hold exactly
# is refused rather than rounded, or overflowing the column, at save time.
MAX_PRICE_PER_CREDIT = Decimal("999999.9999")
PRICE_STEP = Decimal("0.0001")

logger = logging.getLogger("genvoris.stores")


@dataclass(frozen=True)
class Actor:
    """Who caused a change, for the ledger: a person (support, merchant) or a process."""

    label: str
    user: User | None = None

    @classmethod
    def of_user(cls, user: User) -> "Actor":
        return cls(label=getattr(user, "email", "") or user.get_username(), user=user)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"


# A manage.py command acts as the operating-system user who runs it (SPEC §19): "command:alice".
COMMAND = Actor(f"command:{_os_user()}")
SYSTEM = Actor("system")


def audit_record(
    *, store_id: int, action: AuditEntry.Action, target: str, actor: Actor, detail: dict[str, Any] | None = None
) -> AuditEntry:
    """Record who changed what. Call it inside the transaction of the change it describes."""
    return AuditEntry.objects.create(
        store_id=store_id,
        action=action,
        target=target,
        actor=actor.label[:200],
        actor_user=actor.user,
        detail=detail or {},
    )


@transaction.atomic
def store_create(*, name: str, owner_email: str, password: str | None = None, invite: bool = False) -> Store:
    """A store and its owner. With `invite` and no password, an owner new to Genvoris is made
    inactive with no usable password, until they choose one through an emailed link."""
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise invalid_field("name", "Must be 1 to 120 characters.")
    email = get_user_model().objects.normalize_email(owner_email.strip()).lower()
    if "@" not in email:
        raise invalid_field("email", "Enter a valid email address.")
    store = Store.objects.create(name=name)
    user_model = get_user_model()
    owner = user_model.objects.filter(username=email).first()
    if owner is None:
        owner = user_model.objects.create_user(
            username=email, email=email, password=password, is_active=bool(password) or not invite
        )
    elif password:
        owner.set_password(password)
        owner.save(update_fields=["password"])
    Membership.objects.create(user=owner, store=store, role=Membership.Role.OWNER)
    return store


SUSPENDED_MESSAGE_DEFAULT = "Contact Genvoris support to find out why and to reactivate it."


def _required_text(field: str, text: str, why: str) -> str:
    text = text.strip()[:500]
    if not text:
        raise invalid_field(field, why)
    return text


@transaction.atomic(durable=True)
def store_suspend(*, store: Store, note: str, actor: Actor, message: str = "") -> tuple[Store, bool]:
    """Suspend an active store; returns the store and whether this call changed it.

    `note` is for support staff only (why, for colleagues); `message` is what the merchant reads
    in the portal banner and in the API's `detail` (empty: SUSPENDED_MESSAGE_DEFAULT). Suspending
    a suspended store changes nothing and writes no audit entry: the conditional update lets one
    of two concurrent suspensions through, and only that one is audited.
    """
    note = _required_text("note", note, "Give an internal note: why the store is suspended, for support colleagues.")
    message = message.strip()[:500]
    now = timezone.now()
    changed = Store.objects.filter(pk=store.pk, status=Store.Status.ACTIVE).update(
        status=Store.Status.SUSPENDED, suspended_note=note, suspended_message=message, suspended_at=now
    )
    store.refresh_from_db(fields=["status", "suspended_note", "suspended_message", "suspended_at"])
    if not changed:
        return store, False
    audit_record(
        store_id=store.pk,
        action=AuditEntry.Action.STORE_SUSPENDED,
        target=store.public_id,
        actor=actor,
        detail={"before": "active", "after": "suspended", "note": note, "message": message},
    )
    logger.info("store %s suspended by %s", store.public_id, actor.label)
    return store, True


@transaction.atomic(durable=True)
def store_reactivate(*, store: Store, reason: str, actor: Actor) -> tuple[Store, bool]:
    """Reactivate a suspended store, with a reason (audited); returns the store and whether this
    call changed it. Reactivating an active store changes nothing and writes no audit entry."""
    reason = _required_text("reason", reason, "Give a reason for reactivating the store.")
    # The row is locked while the note and message it replaces are read, so the audit names them.
    locked = Store.objects.select_for_update(no_key=True).only(*_SUSPENSION_FIELDS).get(pk=store.pk)
    changed = Store.objects.filter(pk=store.pk, status=Store.Status.SUSPENDED).update(
        status=Store.Status.ACTIVE, suspended_note="", suspended_message="", suspended_at=None
    )
    store.refresh_from_db(fields=_SUSPENSION_FIELDS)
    if not changed:
        return store, False
    audit_record(
        store_id=store.pk,
        action=AuditEntry.Action.STORE_REACTIVATED,
        target=store.public_id,
        actor=actor,
        detail={
            "before": "suspended",
            "after": "active",
            "reason": reason,
            "previous_note": locked.suspended_note,
            "previous_message": locked.suspended_message,
        },
    )
    logger.info("store %s reactivated by %s", store.public_id, actor.label)
    return store, True


_SUSPENSION_FIELDS = ["status", "suspended_note", "suspended_message", "suspended_at"]


def store_suspended_error(store: Store) -> ApiError:
    """The 403 every door answers a suspended store's requests with; its `detail` is the message
    support wrote for the merchant, never the internal note."""
    return ApiError(
        ErrorCode.ACCOUNT_INACTIVE,
        "This store's account is suspended.",
        detail=store.suspended_message or f"This store's account is suspended. {SUSPENDED_MESSAGE_DEFAULT}",
    )


@transaction.atomic
def store_update(
    *, store: Store, name: str | None = None, low_balance_threshold: int | None = None, actor: Actor = SYSTEM
) -> Store:
    """Change a store's settings; never its status (suspend/reactivate) or balance (credits).
    What changed is audited, before → after; a save that changes nothing writes no entry."""
    before = Store.objects.select_for_update(no_key=True).values("name", "low_balance_threshold").get(pk=store.pk)
    if name is not None:
        store.name = name.strip()
        if not 1 <= len(store.name) <= 120:
            raise invalid_field("name", "Must be 1 to 120 characters.")
    else:
        store.name = before["name"]
    if low_balance_threshold is not None:
        store.low_balance_threshold = low_balance_threshold
    else:
        store.low_balance_threshold = before["low_balance_threshold"]
    changes = {f: [old, getattr(store, f)] for f, old in before.items() if getattr(store, f) != old}
    if not changes:
        return store
    # update_fields: a full save would write back the balance read before a concurrent debit.
    store.save(update_fields=list(changes))
    audit_record(
        store_id=store.pk, action=AuditEntry.Action.STORE_UPDATED, target=store.public_id, actor=actor, detail=changes
    )
    return store


def normalize_domains(domains: list[str]) -> list[str]:
    normalized: list[str] = []
    for raw in domains:
        if not raw.strip():
            continue
        try:
            entry = normalize_domain_entry(raw)
        except ValueError as exc:
            raise invalid_field("allowed_domains", str(exc)) from exc
        if entry not in normalized:
            normalized.append(entry)
    return normalized


@transaction.atomic
def api_key_create(
    *,
    store: Store,
    kind: str = ApiKey.Kind.SECRET,
    label: str = "",
    allowed_domains: list[str] | None = None,
    actor: Actor = SYSTEM,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored and never shown again.
    Audited with its prefix, kind, label and domains (never the plaintext)."""
    if kind not in ApiKey.Kind.values:
        raise invalid_field("kind", "Must be secret or publishable.")
    plaintext = ApiKey.PREFIXES[ApiKey.Kind(kind)] + secrets.token_urlsafe(24)
    key = _api_key_store(store=store, kind=kind, label=label, domains=allowed_domains or [], plaintext=plaintext)
    _key_audit(
        key,
        AuditEntry.Action.API_KEY_CREATED,
        actor,
        kind=key.kind,
        label=key.label,
        allowed_domains=key.allowed_domains,
    )
    return key, plaintext


def api_key_ensure(*, store: Store, kind: str, label: str, plaintext: str) -> ApiKey:
    """Idempotently register a key whose plaintext the caller already knows (the demo keys)."""
    existing = ApiKey.objects.filter(key_hash=api_key_hash(plaintext)).first()
    if existing is not None:
        if existing.kind == ApiKey.Kind.PUBLISHABLE and not existing.public_value:
            # Made before publishable keys were kept readable; its plaintext is known here.
            existing.public_value = plaintext
            existing.save(update_fields=["public_value"])
        return existing
    return _api_key_store(store=store, kind=kind, label=label, domains=[], plaintext=plaintext)


def _api_key_store(*, store: Store, kind: str, label: str, domains: list[str], plaintext: str) -> ApiKey:
    return ApiKey.objects.create(
        store=store,
        kind=kind,
        label=label.strip()[:80],
        prefix=plaintext[:12],
        key_hash=api_key_hash(plaintext),
        allowed_domains=normalize_domains(domains),
        # Public by design (it sits in page source): kept so the Integration page can print it.
        public_value=plaintext if kind == ApiKey.Kind.PUBLISHABLE else "",
    )


def _key_audit(key: ApiKey, action: AuditEntry.Action, actor: Actor, **detail: Any) -> None:
    audit_record(
        store_id=key.store_id, action=action, target=key.public_id, actor=actor, detail={"key": key.prefix, **detail}
    )


@transaction.atomic
def api_key_relabel(*, key: ApiKey, label: str, actor: Actor = SYSTEM) -> ApiKey:
    before = ApiKey.objects.values_list("label", flat=True).get(pk=key.pk)
    key.label = label.strip()[:80]
    key.save(update_fields=["label"])
    if before != key.label:
        _key_audit(key, AuditEntry.Action.API_KEY_RELABELED, actor, before=before, after=key.label)
    return key


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Actor = SYSTEM) -> ApiKey:
    """Revoke for good (SPEC §19): nothing re-enables a revoked key, see api_key_enable."""
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is not None:  # a repeat is a no-op: no second audit entry
        key.active, key.revoked_at = locked.active, locked.revoked_at
        return key
    key.active = False
    key.revoked_at = timezone.now()
    key.save(update_fields=["active", "revoked_at"])
    _key_audit(
        key, AuditEntry.Action.API_KEY_REVOKED, actor, before="active" if locked.active else "disabled", after="revoked"
    )
    # The public button-design endpoint answers a revoked key with the defaults from now on.
    public_button_design_forget([key.key_hash])
    return key


def _key_reason(reason: str) -> str:
    reason = reason.strip()[:500]
    if not reason:
        raise invalid_field("reason", "Give a reason; the merchant sees it on their keys page.")
    return reason


@transaction.atomic
def api_key_disable(*, key: ApiKey, reason: str, actor: Actor) -> ApiKey:
    """Support switches a key off without revoking it; api_key_enable undoes it."""
    reason = _key_reason(reason)
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if not locked.active:
        key.active = False
        return key
    key.active = False
    key.save(update_fields=["active"])
    _key_audit(key, AuditEntry.Action.API_KEY_DISABLED, actor, before="active", after="disabled", reason=reason)
    public_button_design_forget([key.key_hash])
    return key


@transaction.atomic
def api_key_enable(*, key: ApiKey, reason: str, actor: Actor) -> ApiKey:
    """Re-enable a key support disabled. A revoked key is refused: revocation is final."""
    locked = ApiKey.objects.select_for_update().get(pk=key.pk)
    if locked.revoked_at is not None:
        raise invalid_field("active", "This key was revoked; revocation is final. The merchant can create a new key.")
    reason = _key_reason(reason)
    if locked.active:
        key.active = True
        return key
    key.active = True
    key.save(update_fields=["active"])
    _key_audit(key, AuditEntry.Action.API_KEY_ENABLED, actor, before="disabled", after="active", reason=reason)
    return key


def api_key_mark_used(*, key: ApiKey, now: datetime) -> None:
    """Record use at most once a minute, so the hot path rarely writes the key's row."""
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)


def api_key_refusal_count(*, key: ApiKey, cause: str, origin_host: str, now: datetime) -> None:
    """Count one refusal of the key (SPEC §3): per cause, origin host and hour, in one upsert.

    Never a lock and never a read-modify-write: refusals a stranger causes must not disable the
    key, and must not queue behind each other on a row they all read.
    """
    table, hour = KeyRefusal._meta.db_table, now.replace(minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (api_key_id, cause, origin_host, hour, count) VALUES (%s, %s, %s, %s, 1) "
            f"ON CONFLICT (api_key_id, cause, origin_host, hour) DO UPDATE SET count = {table}.count + 1",
            [key.pk, cause, origin_host[:253], _db_datetime(hour)],
        )


def key_refusals_prune(*, now: datetime) -> int:
    """Refusal counts older than a week: the keys page shows a day, support may look back a week."""
    deleted, _ = KeyRefusal.objects.filter(hour__lt=now - timedelta(days=7)).delete()
    return deleted


class TopUpAlreadyApplied(Exception):
    """The top-up of this request token was made before; `pack` is what it added. Nothing was
    written this time."""

    def __init__(self, pack: CreditPack) -> None:
        super().__init__(f"{pack.public_id} was already applied with this request token")
        self.pack = pack


@transaction.atomic(durable=True)
def credit_topup(
    *,
    store: Store,
    credits: int,
    actor: Actor,
    price_per_credit: Decimal = Decimal("0"),
    valid_days: int = PACK_VALIDITY_DAYS,
    source: str = CreditPack.Source.COMMAND,
    note: str = "",
    request_token: str = "",
) -> tuple[CreditPack, int]:
    """Add a pack and its credits; returns the pack and the new balance.

    With a `request_token` (the admin form's one-time token) the store is topped up at most once
    for it: a repeat, even one running at the same instant, raises TopUpAlreadyApplied.
    """
    if type(credits) is not int or not 1 <= credits <= MAX_TOPUP_CREDITS:
        raise invalid_field("credits", f"Must be a whole number between 1 and {MAX_TOPUP_CREDITS:,}.")
    if not _price_valid(price_per_credit):
        raise invalid_field(
            "price_per_credit", f"Must be a number from 0 to {MAX_PRICE_PER_CREDIT} with at most 4 decimals."
        )
    if not 1 <= valid_days <= 3650:
        raise invalid_field("valid_days", "Must be between 1 and 3650.")
    if (first := _topup_of_token(store, request_token)) is not None:
        raise TopUpAlreadyApplied(first)
    now = timezone.now()
    Store.objects.filter(pk=store.pk).update(credit_balance=F("credit_balance") + credits)
    balance, store.webhook_topics = Store.objects.values_list("credit_balance", "webhook_topics").get(pk=store.pk)
    pack = _topup_pack_create(
        store=store,
        credits=credits,
        price_per_credit=price_per_credit,
        purchased_at=now,
        expires_at=now + timedelta(days=valid_days),
        source=source,
        note=note.strip()[:500],
        request_token=request_token,
    )
    CreditLedgerEntry.objects.create(
        store=store,
        pack=pack,
        kind=CreditLedgerEntry.Kind.TOPUP,
        delta=credits,
        balance_after=balance,
        actor=actor.label,
        actor_user=actor.user,
        reason=note.strip()[:500],
    )
    audit_record(
        store_id=store.pk,
        action=AuditEntry.Action.CREDITS_TOPPED_UP,
        target=pack.public_id,
        actor=actor,
        detail={
            "credits": credits,
            "price_per_credit": str(price_per_credit),
            "valid_days": valid_days,
            "source": source,
            "note": pack.note,
            "balance_after": balance,
        },
    )
    store.credit_balance = balance
    webhook_emit(
        store=store,
        event_type="credit.balance_added",
        data=lambda: {
            "credits": credits,
            "balance": balance,
            "packId": pack.public_id,
            "source": source,
            "expiresAt": iso_utc(pack.expires_at),
        },
        now=now,
    )
    return pack, balance


class AdjustmentAlreadyApplied(Exception):
    """The credit adjustment of this request token was made before; `entry` is its ledger row.
    Nothing was written this time."""

    def __init__(self, entry: CreditLedgerEntry) -> None:
        super().__init__(f"adjustment {entry.pk} was already applied with this request token")
        self.entry = entry


@transaction.atomic(durable=True)
def credit_adjust(
    *, store: Store, delta: int, reason: str, actor: Actor, request_token: str = ""
) -> tuple[CreditLedgerEntry, int]:
    """Add or take credits outside a sale (a goodwill gesture, a correction); returns the ledger
    entry and the new balance. Never below zero: the conditional update refuses it.

    Added credits are a pack of their own (valid PACK_VALIDITY_DAYS), so the balance stays the sum
    of the live packs; taken credits come out of the live packs soonest-expiring first, as a
    debit would. With a `request_token` (the admin form's one-time token) the store is adjusted
    at most once for it: a repeat, even at the same instant, raises AdjustmentAlreadyApplied.
    """
    if type(delta) is not int or delta == 0 or abs(delta) > MAX_TOPUP_CREDITS:
        raise invalid_field(
            "delta",
            f"Must be a whole number of credits, not 0, between -{MAX_TOPUP_CREDITS:,} and {MAX_TOPUP_CREDITS:,}.",
        )
    reason = _required_text("reason", reason, "Give a reason; it is kept in the ledger and the audit trail.")
    if (first := _adjustment_of_token(store, request_token)) is not None:
        raise AdjustmentAlreadyApplied(first)
    now = timezone.now()
    # Store row first, then its packs: the lock order of a debit, so the two cannot deadlock.
    moved = Store.objects.filter(pk=store.pk, credit_balance__gte=max(-delta, 0)).update(
        credit_balance=F("credit_balance") + delta
    )
    balance, store.webhook_topics, store.low_balance_threshold = Store.objects.values_list(
        "credit_balance", "webhook_topics", "low_balance_threshold"
    ).get(pk=store.pk)
    if not moved:
        if (first := _adjustment_of_token(store, request_token)) is not None:
            raise AdjustmentAlreadyApplied(first)  # a repeat that waited for the first's commit
        raise invalid_field("delta", f"The balance is {balance:,}: taking {-delta:,} credits would take it below zero.")
    pack = None
    if delta > 0:
        pack = CreditPack.objects.create(
            store=store,
            credits=delta,
            remaining=delta,
            purchased_at=now,
            expires_at=now + timedelta(days=PACK_VALIDITY_DAYS),
            source=CreditPack.Source.ADMIN,
            note=f"Adjustment: {reason}",
        )
    else:
        _packs_take(store_id=store.pk, credits=-delta)
    entry = _adjustment_entry_create(
        store=store,
        pack=pack,
        kind=CreditLedgerEntry.Kind.ADJUSTMENT,
        delta=delta,
        balance_after=balance,
        actor=actor.label,
        actor_user=actor.user,
        reason=reason,
        request_token=request_token,
    )
    audit_record(
        store_id=store.pk,
        action=AuditEntry.Action.CREDITS_ADJUSTED,
        target=pack.public_id if pack else store.public_id,
        actor=actor,
        detail={"delta": delta, "before": balance - delta, "after": balance, "reason": reason},
    )
    store.credit_balance = balance
    if pack is not None:  # credits added outside a sale are added all the same (SPEC §7)
        webhook_emit(
            store=store,
            event_type="credit.balance_added",
            data=lambda: {
                "credits": delta,
                "balance": balance,
                "packId": pack.public_id,
                "source": pack.source,
                "expiresAt": iso_utc(pack.expires_at),
            },
            now=now,
        )
    credit_low_balance_emit(store=store, before=balance - delta, after=balance, now=now)
    return entry, balance


def _packs_take(*, store_id: int, credits: int) -> None:
    """Take `credits` out of the store's packs the expiry job has not written off, soonest expiry
    first. The store row is locked by the caller's update, and the balance is the sum of these
    packs, so they hold enough."""
    packs = CreditPack.objects.select_for_update().filter(store_id=store_id, expired_at__isnull=True, remaining__gt=0)
    for pack in packs.order_by("expires_at", "id"):
        taken = min(pack.remaining, credits)
        CreditPack.objects.filter(pk=pack.pk).update(remaining=F("remaining") - taken)
        credits -= taken
        if not credits:
            return
    raise RuntimeError(f"store {store_id}: its live packs hold less than its balance")  # credit_audit drift


def _adjustment_of_token(store: Store, request_token: str) -> CreditLedgerEntry | None:
    if not request_token:
        return None
    return CreditLedgerEntry.objects.filter(store=store, request_token=request_token).first()


def _adjustment_entry_create(*, store: Store, request_token: str, **fields: Any) -> CreditLedgerEntry:
    """The ledger entry, claiming the request token; AdjustmentAlreadyApplied if a concurrent
    repeat has it (its insert waited for that commit; raising rolls back this balance update)."""
    try:
        with transaction.atomic():
            return CreditLedgerEntry.objects.create(store=store, request_token=request_token, **fields)
    except IntegrityError:
        first = _adjustment_of_token(store, request_token)
        if first is None:
            raise
        raise AdjustmentAlreadyApplied(first) from None


def credit_low_balance_emit(*, store: Store, before: int, after: int, now: datetime, source: str = "") -> bool:
    """`credit.low_balance` if this change took the balance below the store's threshold: once per
    crossing (the next one needs a top-up above the threshold first). In the change's transaction."""
    threshold = store.low_balance_threshold
    if not after < threshold <= before:
        return False
    return webhook_emit(
        store=store,
        event_type="credit.low_balance",
        data={"balance": after, "threshold": threshold},
        now=now,
        source=source,
    )


def _topup_of_token(store: Store, request_token: str) -> CreditPack | None:
    if not request_token:
        return None
    return CreditPack.objects.filter(store=store, request_token=request_token).first()


def _topup_pack_create(*, store: Store, credits: int, request_token: str, **fields: Any) -> CreditPack:
    """The pack, claiming the request token; TopUpAlreadyApplied if a concurrent repeat has it."""
    try:
        # A savepoint, so that after a refused insert this transaction can still read the winner.
        with transaction.atomic():
            return CreditPack.objects.create(
                store=store, credits=credits, remaining=credits, request_token=request_token, **fields
            )
    except IntegrityError:
        # The repeat passed the check before the first committed; the unique constraint made this
        # insert wait for that commit, then refused it. Raising rolls back the balance update too.
        first = _topup_of_token(store, request_token)
        if first is None:
            raise
        raise TopUpAlreadyApplied(first) from None


def _price_valid(price: Decimal) -> bool:
    return (
        isinstance(price, Decimal)
        and price.is_finite()
        and 0 <= price <= MAX_PRICE_PER_CREDIT
        and price == price.quantize(PRICE_STEP)
    )


def credit_debit_one(*, store_id: int, now: datetime) -> int | None:
    """Take one credit from the store and its soonest-expiring live pack; the new balance, or None.

    Must run inside the caller's transaction. The store row is locked by its UPDATE before any
    pack is touched (lock order usage → store → pack), so debits of one store serialize here and
    the pack chosen cannot be taken by another debit in between: the pack statement starts after
    the store lock is held, so it reads what the previous debit committed. Raw SQL for UPDATE …
    RETURNING, which the ORM lacks (SQLite ≥ 3.35 and PostgreSQL both have it).
    """
    with connection.cursor() as cursor:
        cursor.execute(_DEBIT_STORE_SQL.format(store=Store._meta.db_table), [store_id])
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(_DEBIT_PACK_SQL.format(pack=CreditPack._meta.db_table), [store_id, _db_datetime(now)])
        if cursor.rowcount != 1:
            # The balance is held only by packs past their expiry that the job has not written off yet.
            return None
    return int(row[0])


_DEBIT_STORE_SQL = (
    "UPDATE {store} SET credit_balance = credit_balance - 1 WHERE id = %s AND credit_balance >= 1 "
    "RETURNING credit_balance"
)
_DEBIT_PACK_SQL = """
    UPDATE {pack} SET remaining = remaining - 1 WHERE id = (
        SELECT id FROM {pack} WHERE store_id = %s AND remaining > 0 AND expired_at IS NULL AND expires_at > %s
        ORDER BY expires_at, id LIMIT 1)"""


def _db_datetime(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def credit_packs_expire(*, now: datetime | None = None, store: Store | None = None) -> tuple[int, int]:
    """Write off what is left of every pack past its expiry; returns (packs, credits)."""
    now = now or timezone.now()
    due = CreditPack.objects.filter(expired_at__isnull=True, expires_at__lte=now)
    if store is not None:
        due = due.filter(store=store)
    packs = credits = 0
    for store_id in due.values_list("store_id", flat=True).distinct().order_by("store_id"):
        store_packs, store_credits = _expire_store_packs(store_id=store_id, now=now)
        packs += store_packs
        credits += store_credits
    return packs, credits


@transaction.atomic(durable=True)
def _expire_store_packs(*, store_id: int, now: datetime) -> tuple[int, int]:
    # Store row first, then its packs: the same order as a debit, so the two cannot deadlock.
    store = Store.objects.select_for_update().get(pk=store_id)
    due = list(
        CreditPack.objects.select_for_update()
        .filter(store_id=store_id, expired_at__isnull=True, expires_at__lte=now)
        .order_by("expires_at", "id")
    )
    balance = store.credit_balance
    for pack in due:
        balance -= pack.remaining
        if pack.remaining:
            CreditLedgerEntry.objects.create(
                store_id=store_id,
                pack=pack,
                kind=CreditLedgerEntry.Kind.EXPIRY,
                delta=-pack.remaining,
                balance_after=balance,
                actor=SYSTEM.label,
                reason=f"Pack {pack.public_id} expired on {pack.expires_at:%Y-%m-%d}",
            )
    written_off = store.credit_balance - balance
    CreditPack.objects.filter(pk__in=[p.pk for p in due]).update(remaining=0, expired_at=now)
    Store.objects.filter(pk=store_id).update(credit_balance=F("credit_balance") - written_off)
    credit_low_balance_emit(store=store, before=store.credit_balance, after=balance, now=now)
    return len(due), written_off


# --- the button design (SPEC §17) ----------------------------------------------------------------


def button_design_clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """The design fields in `values` (by their published names) as the model's attributes, or
    400 with every problem in `fieldErrors`. A field left out is not changed; `null` is no value."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        attribute = ButtonDesign.FIELDS.get(name)
        problem = _design_problem(name, value) if attribute else _UNKNOWN_DESIGN_FIELD
        if problem:
            errors[name] = [problem]
        else:
            cleaned[str(attribute)] = value.strip() if name == "label" else value
    if errors:
        first = next(iter(errors))
        raise ApiError(
            ErrorCode.INVALID_BODY,
            "The button design is invalid.",
            detail=f"{first}: {errors[first][0]}",
            fieldErrors=errors,
        )
    return cleaned


_UNKNOWN_DESIGN_FIELD = f"Unknown field. The fields are: {', '.join(ButtonDesign.FIELDS)}."


def _design_problem(name: str, value: Any) -> str | None:
    if name == "label":
        if not isinstance(value, str):
            return "Must be a string."
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
            return "Must not contain control characters."
        if not 1 <= len(value.strip()) <= ButtonDesign.LABEL_MAX:
            return f"Must be 1 to {ButtonDesign.LABEL_MAX} characters."
        return None
    if name in ("icon", "position"):
        choices = ButtonDesign.Icon.values if name == "icon" else ButtonDesign.Position.values
        return None if value in choices else f"Must be one of: {', '.join(choices)}."
    if name == "showOnCards":
        return None if isinstance(value, bool) else "Must be true or false."
    low, high = ButtonDesign.RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"Must be a whole number from {low} to {high}."
    return None


@transaction.atomic(durable=True)
def button_design_update(*, store: Store, values: Mapping[str, Any], actor: Actor) -> ButtonDesign:
    """Change the fields given (by their published names); the others keep their values.

    Validated before anything is read. The row is locked while it is compared and written, so
    the audit names the values really replaced; a change to what it already is writes nothing.
    """
    cleaned = button_design_clean(values)
    if not cleaned:
        return button_design_of(store)
    design = _button_design_locked(store)
    changes = {f: [getattr(design, f), v] for f, v in cleaned.items() if getattr(design, f) != v}
    if not changes:
        return design
    for field, (_, value) in changes.items():
        setattr(design, field, value)
    design.updated_at = timezone.now()
    design.save(update_fields=[*changes, "updated_at"])
    audit_record(
        store_id=store.pk,
        action=AuditEntry.Action.BUTTON_DESIGN_UPDATED,
        target=store.public_id,
        actor=actor,
        detail=changes,
    )
    # The public endpoint keeps each key's answer for a minute; this store's are dropped at once.
    hashes = list(ApiKey.objects.filter(store=store, kind=ApiKey.Kind.PUBLISHABLE).values_list("key_hash", flat=True))
    transaction.on_commit(lambda: public_button_design_forget(hashes))
    return design


def _button_design_locked(store: Store) -> ButtonDesign:
    design = ButtonDesign.objects.select_for_update(no_key=True).filter(store=store).first()
    if design is not None:
        return design
    try:
        # A savepoint: a concurrent first change may insert the row between the read and here.
        with transaction.atomic():
            return ButtonDesign.objects.create(store=store)
    except IntegrityError:
        return ButtonDesign.objects.select_for_update(no_key=True).get(store=store)
