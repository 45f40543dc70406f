"""Every write to plans, end-customers and their usage periods."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone

from genvoris.errors import ApiError, ErrorCode, invalid_field
from quotas.models import MAX_MONTHLY_TRY_ONS, METADATA_MAX_BYTES, METADATA_MAX_KEYS, EndCustomer, Plan, UsagePeriod
from quotas.periods import PERIOD, window_at
from quotas.selectors import TrackShopper
from quotas.webhooks import customer_emit, period_rolled_emit, plan_emit
from stores.models import AuditEntry, Store
from stores.services import SYSTEM, Actor, audit_record


@transaction.atomic
def plan_create(
    *,
    store: Store,
    name: str,
    monthly_try_ons: int,
    external_price_id: str = "",
    active: bool = True,
    actor: Actor = SYSTEM,
) -> Plan:
    name = name.strip()
    if not 1 <= len(name) <= 80:
        raise invalid_field("name", "Must be 1 to 80 characters.")
    if not 1 <= monthly_try_ons <= MAX_MONTHLY_TRY_ONS:
        raise invalid_field("monthlyTryOns", "Must be between 1 and 1,000,000.")
    _check_name_free(store, name)
    with _name_race_refused(store, name):
        plan = Plan.objects.create(
            store=store, name=name, monthly_try_ons=monthly_try_ons, external_price_id=external_price_id, active=active
        )
    audit_record(
        store_id=store.pk,
        action=AuditEntry.Action.PLAN_CREATED,
        target=plan.public_id,
        actor=actor,
        detail={f: getattr(plan, f) for f in _PLAN_FIELDS},
    )
    plan_emit(store, plan, "plan.created")
    return plan


@transaction.atomic
def end_customer_create(
    *,
    store: Store,
    external_id: str,
    email: str = "",
    plan: Plan | None = None,
    metadata: dict[str, Any] | None = None,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> EndCustomer:
    now = now or timezone.now()
    _check_joinable(plan)
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
    _audit_customer(customer, AuditEntry.Action.CUSTOMER_CREATED, actor, plan=_plan_ref(plan))
    customer_emit(customer, "end_customer.created")
    return customer


def _check_joinable(plan: Plan | None) -> None:
    """A disabled plan keeps its customers but takes no new ones."""
    if plan is not None and not plan.active:
        raise invalid_field("planId", "This plan is disabled; customers cannot be moved onto it.")


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


@transaction.atomic
def _period_roll_reported(customer: EndCustomer, now: datetime) -> UsagePeriod | None:
    """Roll the window if it ended, open the period, and report a roll this call made."""
    rolled = end_customer_period_roll(customer=customer, now=now)
    if customer.plan is None:
        period = UsagePeriod.objects.filter(customer=customer, period_start=customer.period_start).first()
    else:
        period = _open_period(customer, customer.plan)
    if rolled:
        period_rolled_emit(customer, period, "renewed")
    return period


def usage_period_current(*, customer: EndCustomer, now: datetime) -> UsagePeriod | None:
    """The customer's period holding `now`, rolling the window and opening a period as needed.

    Without a plan there is nothing to count against, so no period is opened.
    """
    return _period_roll_reported(customer, now)


def usage_consume_one(*, period_id: int) -> tuple[int, int] | None:
    """Count one try-on against the period if it has room; its new (used, limit), or None.

    Runs inside the caller's transaction; the UPDATE locks the usage row first (lock order
    usage → store → pack). One statement: the ORM has no UPDATE … RETURNING, and reading `used`
    back would be a second round trip inside the locked section.
    """
    with connection.cursor() as cursor:
        cursor.execute(_CONSUME_ONE_SQL.format(table=UsagePeriod._meta.db_table, limit=_LIMIT), [period_id])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


_LIMIT = connection.ops.quote_name("limit")  # a keyword in SQL
_CONSUME_ONE_SQL = "UPDATE {table} SET used = used + 1 WHERE id = %s AND used < {limit} RETURNING used, {limit}"


class _Unset:
    """Marks a field the caller did not send, as distinct from one sent as null."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()
_SCALARS = (str, int, float, bool, type(None))


def validate_metadata(metadata: Any) -> dict[str, Any]:
    """Flat JSON for the merchant's own use: ≤ 20 keys, ≤ 4 KB, scalar values. None clears it."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise invalid_field("metadata", "Must be a JSON object.")
    problem = None
    if len(metadata) > METADATA_MAX_KEYS:
        problem = f"At most {METADATA_MAX_KEYS} keys."
    elif not all(isinstance(value, _SCALARS) for value in metadata.values()):
        problem = "Values must be strings, numbers, booleans or null."
    elif len(json.dumps(metadata, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
        problem = f"At most {METADATA_MAX_BYTES} bytes as JSON."
    if problem:
        raise ApiError(ErrorCode.METADATA_TOO_LARGE, f"metadata: {problem}", fieldErrors={"metadata": [problem]})
    return metadata


_PLAN_FIELDS = ("name", "monthly_try_ons", "external_price_id", "active")


@transaction.atomic
def plan_update(
    *,
    plan: Plan,
    name: str | None = None,
    monthly_try_ons: int | None = None,
    external_price_id: str | None = None,
    active: bool | None = None,
    actor: Actor = SYSTEM,
) -> Plan:
    """Change a plan. A new quota applies from each customer's next period (limits are snapshots).

    `plan` is re-read under a row lock and returned as stored: the caller's copy may be stale,
    only the fields that change are written, and the audit names the values they really had.
    """
    sent = _plan_sent(name=name, monthly_try_ons=monthly_try_ons, external_price_id=external_price_id, active=active)
    plan.refresh_from_db(from_queryset=Plan.objects.select_for_update(no_key=True))
    changes = {f: [getattr(plan, f), value] for f, value in sent.items() if getattr(plan, f) != value}
    if not changes:
        return plan
    if "name" in changes:
        _check_name_free(plan.store, changes["name"][1], but=plan)
    for field, (_, value) in changes.items():
        setattr(plan, field, value)
    with _name_race_refused(plan.store, plan.name):
        plan.save(update_fields=[*changes, "updated_at"])
    audit_record(
        store_id=plan.store_id,
        action=AuditEntry.Action.PLAN_UPDATED,
        target=plan.public_id,
        actor=actor,
        detail=changes,
    )
    disabled = "active" in changes and not plan.active
    plan_emit(plan.store, plan, "plan.updated", *(["plan.disabled"] if disabled else []))
    return plan


def _plan_named(store: Store, name: str, *, but: Plan | None = None) -> Plan | None:
    """The store's plan of this name, compared as quotas_plan_store_name_unique compares it."""
    plans = Plan.objects.filter(store=store).alias(lower_name=Lower("name")).filter(lower_name=Lower(Value(name)))
    return (plans.exclude(pk=but.pk) if but is not None else plans).first()


def _name_taken(existing: Plan) -> ApiError:
    return invalid_field("name", f"This store already has a plan named “{existing.name}”; choose another name.")


def plan_name_check(*, store: Store, name: str, plan: Plan | None = None) -> None:
    """Refuse (ApiError, fieldErrors.name) a name another plan of the store has; for forms that
    check before they call plan_create / plan_update (the admin)."""
    _check_name_free(store, name.strip(), but=plan)


def _check_name_free(store: Store, name: str, *, but: Plan | None = None) -> None:
    existing = _plan_named(store, name, but=but)
    if existing is not None:
        raise _name_taken(existing)


@contextmanager
def _name_race_refused(store: Store, name: str) -> Iterator[None]:
    """A plan of the same name committed between the check and the write: the unique constraint
    refuses it, and the caller gets the same field error as if the check had seen it."""
    try:
        with transaction.atomic():  # a savepoint, so the caller's transaction outlives the refusal
            yield
    except IntegrityError:
        existing = _plan_named(store, name)
        if existing is None:
            raise
        raise _name_taken(existing) from None


def _plan_sent(
    *, name: str | None, monthly_try_ons: int | None, external_price_id: str | None, active: bool | None
) -> dict[str, Any]:
    """The fields sent (None is "not sent"), validated; checked before the row is locked."""
    if name is not None:
        name = name.strip()
        if not 1 <= len(name) <= 80:
            raise invalid_field("name", "Must be 1 to 80 characters.")
    if monthly_try_ons is not None and not 1 <= monthly_try_ons <= MAX_MONTHLY_TRY_ONS:
        raise invalid_field("monthlyTryOns", "Must be between 1 and 1,000,000.")
    sent = {"name": name, "monthly_try_ons": monthly_try_ons, "external_price_id": external_price_id, "active": active}
    return {field: value for field, value in sent.items() if value is not None}


def plan_deactivate(*, plan: Plan, actor: Actor = SYSTEM) -> Plan:
    """Soft delete: no new customer can join it; customers on it keep their quota."""
    return plan_update(plan=plan, active=False, actor=actor)


def end_customer_upsert(
    *,
    store: Store,
    external_id: str,
    email: str | None = None,
    plan: Plan | None = UNSET,
    metadata: Any = UNSET,
    now: datetime,
    actor: Actor = SYSTEM,
) -> tuple[EndCustomer, bool]:
    """Create the customer, or update the one with this externalId; (customer, created)."""
    existing = EndCustomer.objects.filter(store=store, external_id=external_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                created = end_customer_create(
                    store=store,
                    external_id=external_id,
                    email=email or "",
                    plan=None if plan is UNSET else plan,
                    metadata=validate_metadata(None if metadata is UNSET else metadata),
                    now=now,
                    actor=actor,
                )
                return created, True
        except IntegrityError:  # a concurrent upsert created it first: update that one
            existing = EndCustomer.objects.get(store=store, external_id=external_id)
    return (
        end_customer_update(customer=existing, email=email, plan=plan, metadata=metadata, now=now, actor=actor),
        False,
    )


@transaction.atomic
def end_customer_update(
    *,
    customer: EndCustomer,
    now: datetime,
    email: str | None = None,
    plan: Plan | None = UNSET,
    status: str | None = None,
    metadata: Any = UNSET,
    reset_period: bool = False,
    actor: Actor = SYSTEM,
) -> EndCustomer:
    """Apply the changes sent. A new plan or `reset_period` starts a fresh period now; otherwise
    the running period is kept, and rolled only if it has ended.

    `customer` is re-read under a row lock and returned as stored: the caller's copy may be
    stale, only the fields that change are written (a concurrent change of another field stays),
    and the audits name the transitions that really happened.
    """
    sent = _customer_sent(email=email, status=status, metadata=metadata)
    _customer_lock(customer)
    old_status, old_plan = customer.status, _plan_ref(customer.plan)
    changed = [field for field, value in sent.items() if getattr(customer, field) != value]
    details = {field: [getattr(customer, field), sent[field]] for field in changed if field in _AUDITED_DETAILS}
    for field in changed:
        setattr(customer, field, sent[field])
    plan_changed = plan is not UNSET and (plan.pk if plan else None) != customer.plan_id
    if plan_changed:
        customer.plan = _plan_for_joining(plan)
        changed.append("plan")
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
    if (plan_changed and plan is not None) or reset_period:
        _period_start_fresh(customer, now)
    else:
        usage_period_current(customer=customer, now=now)
    if details:
        _audit_customer(customer, AuditEntry.Action.CUSTOMER_UPDATED, actor, **details)
    if customer.status != old_status:
        _audit_customer(customer, AuditEntry.Action.CUSTOMER_STATUS_CHANGED, actor, old=old_status, new=customer.status)
    if plan_changed:
        _audit_customer(customer, AuditEntry.Action.CUSTOMER_PLAN_CHANGED, actor, old=old_plan, new=_plan_ref(plan))
    if reset_period:
        _audit_customer(
            customer, AuditEntry.Action.CUSTOMER_PERIOD_RESET, actor, period_start=customer.period_start.isoformat()
        )
    _customer_changes_emit(customer, changed, old_plan=old_plan, reset_period=reset_period, now=now)
    return customer


# The fields a customer's "details changed" entry names with before → after (status and plan have
# entries of their own).
_AUDITED_DETAILS = frozenset({"email", "metadata"})


def _customer_changes_emit(
    customer: EndCustomer, changed: list[str], *, old_plan: str | None, reset_period: bool, now: datetime
) -> None:
    if changed:
        customer_emit(customer, "end_customer.updated", changedFields=[_WIRE_NAMES[f] for f in changed])
    if "plan" in changed:
        customer_emit(customer, "customer.plan_changed", previousPlanId=old_plan)
    if "status" in changed and customer.status == EndCustomer.Status.CANCELLED:
        customer_emit(customer, "end_customer.cancelled")
    if reset_period or ("plan" in changed and customer.plan is not None and customer.period_start == now):
        period = UsagePeriod.objects.filter(customer=customer, period_start=customer.period_start).first()
        period_rolled_emit(customer, period, "reset" if reset_period else "plan_changed")


_WIRE_NAMES = {"email": "email", "status": "status", "metadata": "metadata", "plan": "planId"}


def _customer_sent(*, email: str | None, status: str | None, metadata: Any) -> dict[str, Any]:
    """The plain fields sent, validated; checked before the row is locked."""
    sent: dict[str, Any] = {}
    if email is not None:
        sent["email"] = email
    if status is not None:
        sent["status"] = status
    if metadata is not UNSET:
        sent["metadata"] = validate_metadata(metadata)
    return sent


def _customer_lock(customer: EndCustomer) -> None:
    """Lock the customer's row and reload it; its plan is read after, by its own query.

    FOR NO KEY UPDATE, not FOR UPDATE: a try-on's debit holds its usage row while it inserts an
    event referencing the customer (a KEY SHARE lock); FOR UPDATE would wait for that insert
    while the debit waits for our usage-period write, a deadlock. Order: customer → usage period
    (and → plan when joining one); the track path never locks the customer after its usage row.
    No select_related: a locked row that changed while we waited is re-read by PostgreSQL, but
    the joined plan row is not, so a concurrent plan change would come back joined to no plan.
    """
    customer.refresh_from_db(from_queryset=EndCustomer.objects.select_for_update(no_key=True))


def _plan_for_joining(plan: Plan | None) -> Plan | None:
    """The plan as stored, locked so that it cannot be disabled while a customer joins it."""
    if plan is None:
        return None
    plan = Plan.objects.select_for_update(no_key=True).get(pk=plan.pk)
    _check_joinable(plan)
    return plan


def _period_start_fresh(customer: EndCustomer, now: datetime) -> None:
    """Start a fresh period now, for a new plan or a reset.

    A caller that waited for the row lock may carry a `now` from before the period another writer
    has just started: that period is the fresh one then (time never runs backwards in a customer's
    history), and it takes the quota of the plan this call put the customer on.
    """
    if now > customer.period_start:
        _period_restart(customer, now)
    elif customer.plan is not None:
        period = _open_period(customer, customer.plan)
        UsagePeriod.objects.filter(pk=period.pk).update(limit=customer.plan.monthly_try_ons)


@transaction.atomic
def end_customer_period_restart(*, customer: EndCustomer, now: datetime, actor: Actor = SYSTEM) -> UsagePeriod | None:
    """End the running period now and open a new one from now, with the plan's current quota."""
    period = _period_restart(customer, now)
    _audit_customer(
        customer, AuditEntry.Action.CUSTOMER_PERIOD_RESET, actor, period_start=customer.period_start.isoformat()
    )
    period_rolled_emit(customer, period, "reset")
    return period


def _period_restart(customer: EndCustomer, now: datetime) -> UsagePeriod | None:
    UsagePeriod.objects.filter(customer=customer, period_start=customer.period_start, period_end__gt=now).update(
        period_end=now
    )
    customer.period_start, customer.period_end = now, now + PERIOD
    customer.save(update_fields=["period_start", "period_end", "updated_at"])
    return _open_period(customer, customer.plan) if customer.plan else None


def _plan_ref(plan: Plan | None) -> str | None:
    return plan.public_id if plan else None


def _audit_customer(customer: EndCustomer, action: AuditEntry.Action, actor: Actor, **detail: Any) -> None:
    audit_record(
        store_id=customer.store_id,
        action=action,
        target=customer.public_id,
        actor=actor,
        detail={"external_id": customer.external_id, **detail},
    )


def end_customer_cancel(*, customer: EndCustomer, now: datetime, actor: Actor = SYSTEM) -> EndCustomer:
    """Soft delete: the record and its history stay; try-ons are refused with reason `cancelled`."""
    return end_customer_update(customer=customer, status=EndCustomer.Status.CANCELLED, now=now, actor=actor)


def usage_period_for_track(*, shopper: TrackShopper, now: datetime) -> TrackShopper:
    """The shopper with its period current: rolled forward if its window ended, opened if missing.

    The track service's rare path (once a period per customer); the common one reads everything
    in one statement (`quotas.selectors.track_shopper`).
    """
    if shopper.customer_id is None or not (shopper.period_ended or (shopper.has_plan and shopper.period_id is None)):
        return shopper
    customer = EndCustomer.objects.select_related("plan").get(pk=shopper.customer_id)
    period = usage_period_current(customer=customer, now=now)
    return replace(
        shopper,
        period_ended=False,
        period_id=period.pk if period else None,
        limit=period.limit if period else 0,
        used=period.used if period else 0,
    )


@transaction.atomic
def end_customer_status_set(*, customer: EndCustomer, status: str, now: datetime, actor: Actor = SYSTEM) -> bool:
    """Pause or resume from the portal: True if the status changed, False if it already was.

    The row is locked before the status is compared, so of two concurrent clicks exactly one
    changes it (and audits); the other is a no-op the merchant is told about.
    """
    _customer_lock(customer)
    if customer.status == status:
        return False
    end_customer_update(customer=customer, status=status, now=now, actor=actor)
    return True


@transaction.atomic
def end_customer_plan_set(*, customer: EndCustomer, plan: Plan, now: datetime, actor: Actor = SYSTEM) -> bool:
    """Move the customer onto `plan` (which must take new customers); False if already on it."""
    _customer_lock(customer)
    if customer.plan_id == plan.pk:
        return False
    end_customer_update(customer=customer, plan=plan, now=now, actor=actor)
    return True


@transaction.atomic
def end_customer_period_reset(
    *, customer: EndCustomer, period_start: datetime, now: datetime, actor: Actor = SYSTEM
) -> bool:
    """Reset the period the merchant saw (`period_start`): a second submission of the same form,
    or one racing another reset, finds a newer period and does nothing (False)."""
    _customer_lock(customer)
    if customer.period_start != period_start:
        return False
    end_customer_update(customer=customer, reset_period=True, now=now, actor=actor)
    return True
