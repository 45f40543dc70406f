"""Concurrent try-ons with real threads against PostgreSQL: nothing lost, nothing double-counted."""

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client

from conftest import INTERNAL_SECRET, Persona
from quotas.models import UsagePeriod
from stores.models import CreditPack, Store
from stores.tests.factories import give_credits
from tryon.models import TryOnEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def run_at_once(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Start `count` threads that call at the same instant (each with its index); their results."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            result = call(index)
            with lock:
                results.append(result)
        finally:
            connection.close()  # each thread has its own connection; leave none open

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == count
    return results


def post_track(body: dict[str, Any], **headers: str) -> tuple[int, dict[str, Any]]:
    response = Client().post(
        "/api/tryon/track",
        data=body,
        content_type="application/json",
        headers={"x-internal-secret": INTERNAL_SECRET, **headers},
    )
    return response.status_code, response.json()


def outcomes(results: list[tuple[int, dict[str, Any]]]) -> Counter[tuple[int, str]]:
    return Counter((status, body.get("error", "ok")) for status, body in results)


def make_owner(credits: int, quota: int) -> Persona:
    from conftest import make_persona

    return make_persona("racer", credits=credits, quota=quota)


def test_sixty_try_ons_on_twenty_credits() -> None:
    owner = make_owner(credits=20, quota=1000)
    results = run_at_once(60, lambda _: post_track({"api_key": owner.secret}))
    assert outcomes(results) == {(200, "ok"): 20, (402, "credit_limit_reached"): 40}
    assert Store.objects.get(pk=owner.store.pk).credit_balance == 0
    assert TryOnEvent.objects.filter(store=owner.store, debited=True).count() == 20
    assert TryOnEvent.objects.filter(store=owner.store, outcome="credit_limit_reached").count() == 40
    assert sorted(body["remaining_credits"] for status, body in results if status == 200) == list(range(20))
    assert CreditPack.objects.get(store=owner.store).remaining == 0


def test_sixty_try_ons_for_a_customer_with_twenty_left() -> None:
    owner = make_owner(credits=1000, quota=20)
    token = owner.token()
    results = run_at_once(60, lambda _: post_track({"api_key": owner.secret, "end_customer_token": token}))
    assert outcomes(results) == {(200, "ok"): 20, (402, "end_customer_quota"): 40}
    assert all(body["reason"] == "quota_exhausted" for status, body in results if status == 402)
    period = UsagePeriod.objects.get(customer=owner.customer)
    assert (period.used, period.limit) == (20, 20)
    assert Store.objects.get(pk=owner.store.pk).credit_balance == 980
    assert TryOnEvent.objects.filter(end_customer=owner.customer, debited=True).count() == 20
    assert sorted(body["end_customer_quota"]["used"] for status, body in results if status == 200) == list(range(1, 21))


def test_credits_and_quota_both_short() -> None:
    """Quota 15 and credits 10: never more than either allows, and the two stay in step."""
    owner = make_owner(credits=10, quota=15)
    token = owner.token()
    results = run_at_once(40, lambda _: post_track({"api_key": owner.secret, "end_customer_token": token}))
    assert outcomes(results)[(200, "ok")] == 10
    assert Store.objects.get(pk=owner.store.pk).credit_balance == 0
    # A try-on refused for credits rolled back its quota unit with it.
    assert UsagePeriod.objects.get(customer=owner.customer).used == 10


def test_thirty_replays_of_one_idempotency_key_debit_once_and_answer_alike() -> None:
    # A duplicate waits for the first request's transaction, then replays its answer: no 409.
    owner = make_owner(credits=100, quota=100)
    body = {"api_key": owner.secret, "variation_count": 3, "end_customer_token": owner.token()}
    results = run_at_once(30, lambda _: post_track(body, **{"Idempotency-Key": "gen-7f3a"}))
    expected = {
        "success": True,
        "remaining_credits": 99,
        "variation_count": 3,
        "end_customer_quota": {"used": 1, "limit": 100, "remaining": 99},
    }
    assert results == [(200, expected)] * 30
    assert Store.objects.get(pk=owner.store.pk).credit_balance == 99
    assert UsagePeriod.objects.get(customer=owner.customer).used == 1
    assert TryOnEvent.objects.filter(store=owner.store).count() == 1


def test_debits_across_several_packs_keep_every_pack_consistent() -> None:
    owner = make_owner(credits=5, quota=1000)
    give_credits(owner.store, 5, valid_days=30)
    give_credits(owner.store, 5, valid_days=60)
    results = run_at_once(20, lambda _: post_track({"api_key": owner.secret}))
    assert outcomes(results) == {(200, "ok"): 15, (402, "credit_limit_reached"): 5}
    assert list(CreditPack.objects.filter(store=owner.store).values_list("remaining", flat=True)) == [0, 0, 0]


def test_expiry_job_racing_with_try_ons_does_not_deadlock_or_drift() -> None:
    from stores.services import credit_packs_expire
    from tryon.selectors import credit_audit

    owner = make_owner(credits=10, quota=1000)
    give_credits(owner.store, 30, valid_days=1)

    def either(index: int) -> Any:
        return credit_packs_expire() if index % 6 == 0 else post_track({"api_key": owner.secret})

    # Two days on, the 1-day pack is due: four expiry runs race twenty try-ons.
    with time_machine.travel(time.time() + 2 * 86400, tick=True):
        results = run_at_once(24, either)
    _, drift = credit_audit()
    assert drift == []
    store = Store.objects.get(pk=owner.store.pk)
    debited = TryOnEvent.objects.filter(store=owner.store, debited=True).count()
    assert debited == sum(1 for r in results if isinstance(r, tuple) and r[0] == 200) == 10
    assert store.credit_balance == 0  # the 30-credit 1-day pack was written off, never spent
    expiring = CreditPack.objects.get(store=owner.store, credits=30)
    assert (expiring.remaining, expiring.expired_at is not None) == (0, True)
