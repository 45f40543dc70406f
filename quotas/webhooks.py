"""The webhook events of plans and end-customers (SPEC §7), written in the caller's transaction."""

from typing import Any

from genvoris.fields import iso_utc
from quotas.models import EndCustomer, Plan, UsagePeriod
from quotas.serializers import CustomerOut, PlanOut
from stores.models import Store
from stores.webhooks.catalogue import subscribes_any
from stores.webhooks.events import webhook_emit


def warning_at(limit: int) -> int:
    """The try-on that reaches 80 % of a period's quota: ⌈0.8 × limit⌉, in integers."""
    return (4 * limit + 4) // 5


def customer_data(customer: EndCustomer) -> dict[str, Any]:
    return dict(CustomerOut(customer).data)


def plan_data(plan: Plan) -> dict[str, Any]:
    return dict(PlanOut(plan).data)


def usage_data(period: UsagePeriod, used: int | None = None) -> dict[str, Any]:
    used = period.used if used is None else used
    return {
        "used": used,
        "limit": period.limit,
        "remaining": max(period.limit - used, 0),
        "periodStart": iso_utc(period.period_start),
        "periodEnd": iso_utc(period.period_end),
    }


def plan_emit(store: Store, plan: Plan, *event_types: str) -> None:
    for event_type in event_types:
        webhook_emit(store=store, event_type=event_type, data=lambda: {"plan": plan_data(plan)})


def customer_emit(customer: EndCustomer, event_type: str, **extra: Any) -> None:
    """One event about the customer: its v1 representation, and `extra` beside it."""
    store = customer.store
    webhook_emit(store=store, event_type=event_type, data=lambda: {"customer": customer_data(customer), **extra})


def period_rolled_emit(customer: EndCustomer, period: UsagePeriod | None, reason: str) -> None:
    store = customer.store
    if not subscribes_any(store.webhook_topics or [], "end_customer.period_rolled"):
        return
    webhook_emit(
        store=store,
        event_type="end_customer.period_rolled",
        data=lambda: {
            "customer": customer_data(customer),
            "reason": reason,
            "period": {
                "periodStart": iso_utc(customer.period_start),
                "periodEnd": iso_utc(customer.period_end),
                "limit": period.limit if period else None,
            },
        },
    )
