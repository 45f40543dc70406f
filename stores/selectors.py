import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Max, QuerySet, Sum

from genvoris import ratelimit
from genvoris.formatting import price
from genvoris.logs import note_key
from stores.models import ApiKey, AuditEntry, ButtonDesign, CreditLedgerEntry, CreditPack, KeyRefusal, Store

logger = logging.getLogger("genvoris.stores")


def api_key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_key_by_plaintext(plaintext: str) -> ApiKey | None:
    """The key with its store, or None when the text is not a key of a known kind.

    Every try-on and every API call starts here, so the query is compiled once per connection
    (`_KeyLookup`): compiling a select_related query costs more than the rest of a try-on's Python.
    """
    if not plaintext.startswith(tuple(ApiKey.PREFIXES.values())) or len(plaintext) > 100:
        return None
    key = _KeyLookup.of(connections[DEFAULT_DB_ALIAS]).fetch(api_key_hash(plaintext))
    if key is not None:
        # The request's log lines name this key's store and prefix, whichever endpoint asked.
        note_key(key)
    return key


class _KeyLookup:
    """`ApiKey.objects.select_related("store").filter(key_hash=…)`, compiled by the ORM once; each
    call runs the SQL with a new hash and builds the two models from the row with the ORM's own
    converters, as the queryset would."""

    def __init__(self, db: BaseDatabaseWrapper) -> None:
        query = ApiKey.objects.select_related("store").filter(key_hash="").order_by().query
        query.set_limits(high=1)
        compiler = query.get_compiler(connection=db)
        self.sql, params = compiler.as_sql()
        assert params == ("",), params  # the one placeholder is the hash
        self.db, self.compiler = db, compiler
        self.converters = compiler.get_converters([column for column, _, _ in compiler.select])
        info = compiler.klass_info
        assert info is not None
        self.key_columns = info["select_fields"]
        self.store_columns = info["related_klass_infos"][0]["select_fields"]
        self.key_names = [f.attname for f in ApiKey._meta.concrete_fields]
        self.store_names = [f.attname for f in Store._meta.concrete_fields]
        assert (len(self.key_columns), len(self.store_columns)) == (len(self.key_names), len(self.store_names))

    @classmethod
    def of(cls, db: BaseDatabaseWrapper) -> "_KeyLookup":
        # Kept on the connection's wrapper (one per thread), so it lives and goes with it.
        lookup: _KeyLookup | None = getattr(db, "_genvoris_key_lookup", None)
        if lookup is None:
            lookup = cls(db)
            db._genvoris_key_lookup = lookup  # type: ignore[attr-defined]
        return lookup

    def fetch(self, key_hash: str) -> ApiKey | None:
        with self.db.cursor() as cursor:
            cursor.execute(self.sql, [key_hash])
            row = cursor.fetchone()
        if row is None:
            return None
        (values,) = self.compiler.apply_converters([row], self.converters) if self.converters else [row]
        key = ApiKey.from_db(self.db.alias, self.key_names, [values[i] for i in self.key_columns])
        store = Store.from_db(self.db.alias, self.store_names, [values[i] for i in self.store_columns])
        ApiKey.store.field.set_cached_value(key, store)
        return key


def store_by_public_id(public_id: str) -> Store | None:
    return Store.objects.filter(public_id=public_id).first()


@dataclass(frozen=True)
class CreditSummary:
    balance: int
    threshold: int
    # Credits bought in the packs that still hold some: the bar's 100 %.
    live_credits: int
    next_expiry: CreditPack | None

    @property
    def low(self) -> bool:
        return self.balance < self.threshold


def credit_summary(store: Store, *, now: datetime) -> CreditSummary:
    live = CreditPack.objects.filter(store=store, remaining__gt=0, expired_at__isnull=True).order_by("expires_at", "id")
    return CreditSummary(
        balance=store.credit_balance,
        threshold=store.low_balance_threshold,
        live_credits=live.aggregate(total=Sum("credits"))["total"] or 0,
        next_expiry=live.filter(expires_at__gt=now).first(),
    )


def credit_packs_of(store: Store) -> list[CreditPack]:
    """Newest first: the packs a merchant asks about are the recent ones."""
    return list(CreditPack.objects.filter(store=store).order_by("-purchased_at", "-id"))


def ledger_of(store: Store) -> QuerySet[CreditLedgerEntry]:
    return CreditLedgerEntry.objects.filter(store=store).select_related("pack").order_by("-created_at", "-id")


def api_keys_of(store: Store) -> list[ApiKey]:
    """Usable keys first, then revoked ones; newest first within each."""
    return list(ApiKey.objects.filter(store=store).order_by("-active", "-created_at", "-id"))


def publishable_keys_of(store: Store) -> list[ApiKey]:
    """The store's usable publishable keys, newest first: the ones a snippet can carry."""
    return list(
        ApiKey.objects.filter(store=store, kind=ApiKey.Kind.PUBLISHABLE, active=True).order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class KeyRefusalRow:
    key: ApiKey
    cause: str
    cause_label: str
    origin_host: str
    count: int
    last_hour: datetime


def key_refusals_of(store: Store, *, now: datetime) -> list[KeyRefusalRow]:
    """The last 24 hours of refusals a stranger could cause, per key, cause and origin host; the
    most frequent first (SPEC §3: shown to the merchant, who can revoke the key)."""
    rows = (
        KeyRefusal.objects.filter(api_key__store=store, hour__gt=now - timedelta(hours=24))
        .values("api_key", "cause", "origin_host")
        .annotate(total=Sum("count"), last_hour=Max("hour"))
        .order_by("-total", "api_key", "cause", "origin_host")[:100]
    )
    keys = {key.pk: key for key in ApiKey.objects.filter(store=store)}
    labels = dict(KeyRefusal.Cause.choices)
    return [
        KeyRefusalRow(
            key=keys[row["api_key"]],
            cause=row["cause"],
            cause_label=str(labels.get(row["cause"], row["cause"])),
            origin_host=row["origin_host"],
            count=row["total"],
            last_hour=row["last_hour"],
        )
        for row in rows
    ]


# --- the audit trail as the merchant reads it (SPEC §19) ---------------------------------------

# How the portal names a change Genvoris made: a staff user in the admin, an operator's command,
# or the product itself. Which colleague or which shell account is support's business.
SUPPORT_ACTOR = "Genvoris support"
PRODUCT_ACTOR = "Genvoris (automatic)"
# Detail keys that say what was changed rather than what it became: shown beside the target.
_AUDIT_SUBJECT_KEYS = ("external_id", "key")


@dataclass(frozen=True)
class AuditChange:
    field: str
    before: str | None  # None: the entry names no earlier value
    after: str


@dataclass(frozen=True)
class AuditRow:
    created_at: datetime
    actor: str
    action: str
    action_label: str
    target: str
    subject: str
    changes: list[AuditChange]
    reason: str


def audit_entries_of(store: Store, *, action: str = "") -> QuerySet[AuditEntry]:
    """The store's trail, newest first (stores_audit_store_recent_idx), optionally of one action."""
    entries = AuditEntry.objects.filter(store=store).select_related("actor_user").order_by("-created_at", "-id")
    return entries.filter(action=action) if action else entries


def audit_row(entry: AuditEntry) -> AuditRow:
    """One entry as the merchant may read it: staff-only detail dropped, staff and commands named
    as Genvoris support, the change as field: before → after."""
    # AuditEntry.STAFF_ONLY_DETAIL is the one list of what a merchant never reads (a suspension's
    # internal note, and the note a reactivation cleared); it goes before anything looks at it.
    detail = entry.merchant_detail()
    reason = detail.pop("reason", "")
    subject = next((str(detail.pop(k)) for k in _AUDIT_SUBJECT_KEYS if k in detail), "")
    return AuditRow(
        created_at=entry.created_at,
        actor=audit_actor_label(entry),
        action=entry.action,
        action_label=entry.get_action_display(),
        target=entry.target,
        subject=subject,
        changes=_audit_changes(entry.action, detail),
        reason=str(reason or ""),
    )


def audit_actor_label(entry: AuditEntry) -> str:
    user = entry.actor_user
    if (user is not None and user.is_staff) or entry.actor.startswith("command"):
        return SUPPORT_ACTOR
    if entry.actor == "system":
        return PRODUCT_ACTOR
    if entry.actor.startswith("api:"):
        return f"API key {entry.actor[4:]}…"
    return entry.actor


# The actions whose detail is {field: [old, new]}; in the others a two-item list is a value.
_AUDIT_PAIRED_ACTIONS = frozenset(
    {
        AuditEntry.Action.PLAN_UPDATED,
        AuditEntry.Action.BUTTON_DESIGN_UPDATED,
        AuditEntry.Action.STORE_UPDATED,
        AuditEntry.Action.CUSTOMER_UPDATED,
    }
)


def _audit_changes(action: str, detail: dict[str, Any]) -> list[AuditChange]:
    """The detail's shapes, as the services write them: {before, after} (keys, webhooks, team),
    {old, new} (customers), {field: [old, new]} (plans, button design), else facts."""
    if action in _AUDIT_PAIRED_ACTIONS:
        return [AuditChange(_field(f), _shown(f, old), _shown(f, new)) for f, (old, new) in detail.items()]
    changes = []
    for before_key, after_key in (("before", "after"), ("old", "new")):
        if before_key in detail or after_key in detail:
            before, after = detail.pop(before_key, None), detail.pop(after_key, None)
            if isinstance(before, dict) or isinstance(after, dict):
                b, a = before or {}, after or {}
                changes += [
                    AuditChange(_field(f), _shown(f, b[f]) if f in b else None, _shown(f, a.get(f))) for f in {**b, **a}
                ]
            else:
                changes.append(AuditChange("", _shown("", before), _shown("", after)))
    return changes + [AuditChange(_field(f), None, _shown(f, v)) for f, v in detail.items()]


def _field(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _shown(field: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if field == "price_per_credit":
        return price(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_shown("", v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{_field(k)}: {_shown(k, v)}" for k, v in value.items()) or "—"
    return str(value)


# --- the button design (SPEC §17) ----------------------------------------------------------------


def button_design_of(store: Store) -> ButtonDesign:
    """The store's design; the defaults (unsaved) if it never changed one."""
    return ButtonDesign.objects.filter(store=store).first() or ButtonDesign(store=store)


def button_design_json(design: ButtonDesign) -> dict[str, Any]:
    """The design by its published names, as the API, the public endpoint and the widget read it."""
    return {name: getattr(design, attribute) for name, attribute in ButtonDesign.FIELDS.items()}


def button_design_defaults() -> dict[str, Any]:
    return button_design_json(ButtonDesign())


def button_design_of_publishable_key(plaintext: str) -> dict[str, Any]:
    """The design of the store of an active publishable key, in one statement; the defaults for
    any other text (a secret key, a revoked or unknown key, or a store that never changed it)."""
    if not plaintext.startswith(ApiKey.PREFIXES[ApiKey.Kind.PUBLISHABLE]) or len(plaintext) > 100:
        return button_design_defaults()
    attributes = list(ButtonDesign.FIELDS.values())
    rows = list(
        ButtonDesign.objects.filter(
            store__api_keys__key_hash=api_key_hash(plaintext),
            store__api_keys__kind=ApiKey.Kind.PUBLISHABLE,
            store__api_keys__active=True,
        )
        .order_by()
        .values_list(*attributes)[:1]
    )
    if not rows:
        return button_design_defaults()
    return dict(zip(ButtonDesign.FIELDS, rows[0], strict=True))


# The public endpoint (stores.api.widget_button_design) keeps each key's answer this long, as
# browsers and CDNs do (Cache-Control: max-age), and limits the database reads of one address.
PUBLIC_DESIGN_TTL_SECONDS = 60
PUBLIC_DESIGN_READS_PER_MINUTE = 120


@dataclass(frozen=True)
class PublicDesign:
    data: dict[str, Any]
    # False for an answer that is not the store's for certain (the defaults served to a limited
    # address, or while the database is away): it must not be kept by any cache.
    cacheable: bool = True


def _public_design_key(key_hash: str) -> str:
    return f"button-design:{key_hash}"


def public_button_design(plaintext: str, *, ip: str) -> PublicDesign:
    """What GET /api/widget/button-design answers: never an error.

    Known answers come from the cache (no statement); a miss costs one statement and counts
    against the caller's address. Past PUBLIC_DESIGN_READS_PER_MINUTE misses a minute, an
    address gets the defaults, uncacheable, without a read: so a flood of made-up keys costs the
    database nothing, while shoppers behind that address still get the designs already cached.
    """
    if not plaintext.startswith(ApiKey.PREFIXES[ApiKey.Kind.PUBLISHABLE]) or len(plaintext) > 100:
        return PublicDesign(button_design_defaults())  # a secret key or junk: nothing is read
    cache_key = _public_design_key(api_key_hash(plaintext))
    try:
        cached = cache.get(cache_key)
    except Exception:  # the cache is away: read the database (bounded by its own limits)
        logger.warning("cache unreachable; reading the button design from the database", exc_info=True)
        cached = None
    if isinstance(cached, dict):
        return PublicDesign(cached)
    counted = ratelimit.hit(f"button-design:{ip}", PUBLIC_DESIGN_READS_PER_MINUTE, 60)
    if counted is not None and counted.over_limit:
        return PublicDesign(button_design_defaults(), cacheable=False)
    data = button_design_of_publishable_key(plaintext)
    try:
        cache.set(cache_key, data, PUBLIC_DESIGN_TTL_SECONDS)
    except Exception:
        logger.warning("cache unreachable; the button design is not kept", exc_info=True)
    return PublicDesign(data)


def public_button_design_forget(key_hashes: list[str]) -> None:
    """Drop the kept answers of these keys (after a design change): the next read is fresh."""
    try:
        cache.delete_many([_public_design_key(h) for h in key_hashes])
    except Exception:
        logger.warning("cache unreachable; kept button designs expire within a minute", exc_info=True)
