"""Racing PATCHes of one customer or plan with real threads against PostgreSQL: no lost update,
every answer a state that really was, and an audit trail of real transitions only."""

from typing import Any

import pytest
from django.test import Client

from conftest import V1, Persona
from quotas.models import EndCustomer, Plan, UsagePeriod
from quotas.tests.factories import PlanFactory
from quotas.tests.test_services import periods_back_to_back
from stores.models import AuditEntry, Store
from tryon.models import TryOnEvent
from tryon.tests.test_concurrency import post_track, run_at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]

PAUSED, ACTIVE = EndCustomer.Status.PAUSED, EndCustomer.Status.ACTIVE
RACERS = 40


def patch(owner: Persona, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, Any]]:
    response = V1(Client(), owner.secret).patch(path, body)
    return body, response.status_code, response.json()


def trail(target: str, action: str) -> list[dict[str, Any]]:
    return [e.detail for e in AuditEntry.objects.filter(target=target, action=action).order_by("id")]


def assert_chain(changes: list[tuple[Any, Any]], first: Any, last: Any) -> None:
    """Each recorded transition starts where the one before ended, and changes something."""
    assert all(old != new for old, new in changes)
    assert [old for old, _ in changes] == [first] + [new for _, new in changes[:-1]]
    assert (changes[-1][1] if changes else first) == last


def customer_body(index: int, plans: tuple[Plan, Plan]) -> dict[str, Any]:
    """Status, email and plan changes interleaved. A status change also sets a metadata marker:
    no other PATCH touches metadata, so the row tells which status PATCH was applied last."""
    kind = index % 4
    if kind < 2:
        return {"status": PAUSED if kind == 0 else ACTIVE, "metadata": {"statusBy": index}}
    if kind == 2:
        return {"email": f"racer-{index}@example.com"}
    return {"planId": plans[index // 4 % 2].public_id}


def test_forty_racing_customer_patches_lose_nothing(owner: Persona) -> None:
    plans = (PlanFactory(store=owner.store, monthly_try_ons=20), owner.plan)
    path = f"/customers/{owner.customer.public_id}"
    sent = {i: customer_body(i, plans) for i in range(RACERS)}
    results = run_at_once(RACERS, lambda i: patch(owner, path, sent[i]))

    assert [status for _, status, _ in results] == [200] * RACERS
    for body, _, answer in results:
        assert {field: answer[field] for field in body} == body
        marker = answer["metadata"].get("statusBy")
        assert answer["status"] == (ACTIVE if marker is None else sent[marker]["status"])
    row = EndCustomer.objects.select_related("plan").get(pk=owner.customer.pk)
    assert row.status == sent[row.metadata["statusBy"]]["status"]
    assert row.email in {body["email"] for body in sent.values() if "email" in body}
    final = {"status": row.status, "email": row.email, "planId": row.plan.public_id, "metadata": row.metadata}
    assert final in [{field: answer[field] for field in final} for _, _, answer in results]

    statuses = trail(row.public_id, AuditEntry.Action.CUSTOMER_STATUS_CHANGED)
    assert_chain([(e["old"], e["new"]) for e in statuses], ACTIVE, row.status)
    plan_changes = trail(row.public_id, AuditEntry.Action.CUSTOMER_PLAN_CHANGED)
    assert_chain([(e["old"], e["new"]) for e in plan_changes], owner.plan.public_id, row.plan.public_id)
    current = periods_back_to_back(row)[-1]
    assert (current.period_start, current.limit) == (row.period_start, row.plan.monthly_try_ons)


def plan_body(index: int) -> dict[str, Any]:
    """Name, quota and active changes interleaved; an active change also sets a price marker."""
    kind = index % 4
    if kind < 2:
        return {"active": kind == 1, "externalPriceId": f"price_{index}"}
    if kind == 2:
        return {"name": f"Racer {index}"}
    return {"monthlyTryOns": 100 + index}


PLAN_FIELDS = {"name": "name", "monthly_try_ons": "monthlyTryOns", "external_price_id": "externalPriceId"}


def test_forty_racing_plan_patches_lose_nothing(owner: Persona) -> None:
    plan = owner.plan
    sent = {i: plan_body(i) for i in range(RACERS)}
    results = run_at_once(RACERS, lambda i: patch(owner, f"/plans/{plan.public_id}", sent[i]))

    assert [status for _, status, _ in results] == [200] * RACERS
    for body, _, answer in results:
        assert {field: answer[field] for field in body} == body
        marker = answer["externalPriceId"]
        assert answer["active"] == (True if marker is None else sent[int(marker.removeprefix("price_"))]["active"])
    row = Plan.objects.get(pk=plan.pk)
    assert row.active == sent[int(row.external_price_id.removeprefix("price_"))]["active"]
    final = {"name": row.name, "monthlyTryOns": row.monthly_try_ons, "externalPriceId": row.external_price_id}
    assert {**final, "active": row.active} in [{f: a[f] for f in [*final, "active"]} for _, _, a in results]

    entries = trail(plan.public_id, AuditEntry.Action.PLAN_UPDATED)
    for field in [*PLAN_FIELDS, "active"]:
        changes = [tuple(entry[field]) for entry in entries if field in entry]
        assert_chain(changes, getattr(plan, field), getattr(row, field))


def test_period_resets_and_plan_changes_racing_try_ons_neither_deadlock_nor_drift(owner: Persona) -> None:
    """A debit holds the usage row while it inserts its event (which references the customer);
    a PATCH holds the customer while it closes that usage row. Neither may wait for the other."""
    plans = (PlanFactory(store=owner.store, monthly_try_ons=1000), owner.plan)
    Plan.objects.filter(pk=owner.plan.pk).update(monthly_try_ons=1000)
    UsagePeriod.objects.filter(customer=owner.customer).update(limit=1000)
    token, path = owner.token(), f"/customers/{owner.customer.public_id}"

    def either(index: int) -> tuple[str, int]:
        if index % 2:
            return "track", post_track({"api_key": owner.secret, "end_customer_token": token})[0]
        body = {"resetPeriod": True} if index % 4 == 0 else {"planId": plans[index // 4 % 2].public_id}
        return "patch", patch(owner, path, body)[1]

    results = run_at_once(RACERS, either)
    assert sorted(results) == [("patch", 200)] * (RACERS // 2) + [("track", 200)] * (RACERS // 2)
    used = sum(UsagePeriod.objects.filter(customer=owner.customer).values_list("used", flat=True))
    assert used == TryOnEvent.objects.filter(end_customer=owner.customer, debited=True).count() == RACERS // 2
    assert Store.objects.get(pk=owner.store.pk).credit_balance == 100 - RACERS // 2


def test_racing_creates_of_one_plan_name_make_one_plan(owner: Persona) -> None:
    """Each racer passes the service's name check before any has committed: the unique constraint
    refuses all but one, and each of those gets the field error, not a 500 (issue 13)."""
    results = run_at_once(
        RACERS // 4,
        lambda i: V1(Client(), owner.secret).post("/plans", {"name": "Pro" if i % 2 else "PRO", "monthlyTryOns": 5}),
    )
    statuses = sorted(response.status_code for response in results)
    assert statuses == [201] + [400] * (RACERS // 4 - 1)
    for response in results:
        if response.status_code == 400:
            assert response.json()["fieldErrors"]["name"][0].startswith("This store already has a plan named")
    assert Plan.objects.filter(store=owner.store, name__iexact="pro").count() == 1
    assert AuditEntry.objects.filter(store=owner.store, action=AuditEntry.Action.PLAN_CREATED).count() == 1
