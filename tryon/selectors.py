from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from stores.models import CreditLedgerEntry, Store


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
    """
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
