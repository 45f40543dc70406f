"""Every write to plans, end-customers and their usage periods."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from genvoris.errors import invalid_field
from quotas.models import EndCustomer, Plan, UsagePeriod
from quotas.periods import PERIOD, window_at
from stores.models import Store


def plan_create(
    *, store: Store, name: str, monthly_try_ons: int, external_price_id: str = "", active: bool = True
) -> Plan:
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise invalid_field("name", "Must be 1 to 80 characters.")
    if not 1 <= monthly_try_ons <= 1_000_000:
        raise invalid_field("monthlyTryOns", "Must be between 1 and 1,000,000.")
    return Plan.objects.create(
        store=store, name=name, monthly_try_ons=monthly_try_ons, external_price_id=external_price_id, active=active
    )


@transaction.atomic
def end_customer_create(
    *,
    store: Store,
    external_id: str,
    email: str = "",
    plan: Plan | None = None,
    metadata: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> EndCustomer:
    now = now or timezone.now()
    customer = EndCustomer.objects.create(
        store=store,
        external_id=external_id,
        email=email,
        plan=plan,
        metadata=metadata or {},
        period_start=now,
        period_end=now + PERIOD,
    )
    if plan is not None:
        _open_period(customer, plan)
    return customer


def _open_period(customer: EndCustomer, plan: Plan) -> UsagePeriod:
    period, _ = UsagePeriod.objects.get_or_create(
        customer=customer,
        period_start=customer.period_start,
        defaults={"period_end": customer.period_end, "limit": plan.monthly_try_ons},
    )
    return period


def end_customer_period_roll(*, customer: EndCustomer, now: datetime) -> bool:
    """Move the customer's window forward to the one holding `now`; True if this call moved it.

    Windows stay 30 days long and back to back, so every process computes the same next window
    and concurrent rolls agree (the conditional update lets exactly one of them win).
    """
    start, end = window_at(customer.period_start, customer.period_end, now)
    if start == customer.period_start:
        return False
    moved = EndCustomer.objects.filter(pk=customer.pk, period_start=customer.period_start).update(
        period_start=start, period_end=end, updated_at=now
    )
    customer.period_start, customer.period_end = start, end
    return moved == 1


def usage_period_current(*, customer: EndCustomer, now: datetime) -> UsagePeriod | None:
    """The customer's period holding `now`, rolling the window and opening a period as needed.

    Without a plan there is nothing to count against, so no period is opened.
    """
    end_customer_period_roll(customer=customer, now=now)
    if customer.plan is None:
        return UsagePeriod.objects.filter(customer=customer, period_start=customer.period_start).first()
    return _open_period(customer, customer.plan)


def usage_consume_one(*, period_id: int) -> int | None:
    """Count one try-on against the period if it has room; the new `used`, or None.

    Runs inside the caller's transaction; the UPDATE locks the usage row first (lock order
    usage → store → pack).
    """
    if UsagePeriod.objects.filter(pk=period_id, used__lt=F("limit")).update(used=F("used") + 1) != 1:
        return None
    return UsagePeriod.objects.values_list("used", flat=True).get(pk=period_id)
