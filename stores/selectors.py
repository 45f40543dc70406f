import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet, Sum

from stores.models import ApiKey, CreditLedgerEntry, CreditPack, Store


def api_key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_key_by_plaintext(plaintext: str) -> ApiKey | None:
    """The key with its store, or None when the text is not a key of a known kind."""
    if not plaintext.startswith(tuple(ApiKey.PREFIXES.values())) or len(plaintext) > 100:
        return None
    return ApiKey.objects.select_related("store").filter(key_hash=api_key_hash(plaintext)).first()


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
