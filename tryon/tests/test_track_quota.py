"""Per-customer quota at the track endpoint: statuses, plans, and periods rolling over."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conftest import Persona, Track
from quotas.models import EndCustomer, UsagePeriod
from quotas.tests.factories import EndCustomerFactory, PlanFactory
from stores.models import Store

pytestmark = pytest.mark.django_db


def tryon(owner: Persona, track: Track, customer: EndCustomer | None = None) -> tuple[int, dict]:
    response = track({"api_key": owner.secret, "end_customer_token": owner.token(customer)})
    return response.status_code, response.json()


def balance(owner: Persona) -> int:
    return Store.objects.get(pk=owner.store.pk).credit_balance


def test_limit_reached_answers_402_with_the_figures(owner: Persona, track: Track) -> None:
    plan = PlanFactory(store=owner.store, monthly_try_ons=2)
    customer = EndCustomerFactory(store=owner.store, plan=plan)
    answers = [tryon(owner, track, customer) for _ in range(3)]
    assert [status for status, _ in answers] == [200, 200, 402]
    assert answers[1][1]["end_customer_quota"] == {"used": 2, "limit": 2, "remaining": 0}
    assert answers[2][1] | {"message": "", "detail": ""} == {
        "error": "end_customer_quota",
        "reason": "quota_exhausted",
        "limit": 2,
        "used": 2,
        "message": "",
        "detail": "",
    }
    assert balance(owner) == 98


@pytest.mark.parametrize(("status", "reason"), [("PAUSED", "paused"), ("CANCELLED", "cancelled")])
def test_inactive_customers_are_refused(owner: Persona, track: Track, status: str, reason: str) -> None:
    token = owner.token()  # minted while active; the status changes afterwards
    EndCustomer.objects.filter(pk=owner.customer.pk).update(status=status)
    response = track({"api_key": owner.secret, "end_customer_token": token})
    assert response.status_code == 402
    assert (response.json()["reason"], response.json()["limit"], response.json()["used"]) == (reason, 10, 0)
    assert balance(owner) == 100


def test_customer_without_plan(owner: Persona, track: Track) -> None:
    customer = EndCustomerFactory(store=owner.store, plan=None)
    status, body = tryon(owner, track, customer)
    assert status == 402
    assert (body["reason"], body["limit"], body["used"]) == ("no_plan", 0, 0)
    assert balance(owner) == 100


def test_customer_whose_plan_was_detached_mid_period(owner: Persona, track: Track) -> None:
    token = owner.token()
    EndCustomer.objects.filter(pk=owner.customer.pk).update(plan=None)
    response = track({"api_key": owner.secret, "end_customer_token": token})
    assert (response.status_code, response.json()["reason"]) == (402, "no_plan")


def test_customer_of_the_token_must_exist_in_the_store(owner: Persona, track: Track) -> None:
    token = owner.token()
    EndCustomer.objects.filter(pk=owner.customer.pk).update(public_id="ec_gone")
    response = track({"api_key": owner.secret, "end_customer_token": token})
    assert (response.status_code, response.json()["error"]) == (401, "invalid_session_token")


def test_period_rolls_after_thirty_days(owner: Persona, track: Track) -> None:
    UsagePeriod.objects.filter(customer=owner.customer).update(used=10)
    assert tryon(owner, track)[0] == 402
    first_start = EndCustomer.objects.get(pk=owner.customer.pk).period_start
    with time_machine.travel(timezone.now() + timedelta(days=30, minutes=1)):
        status, body = tryon(owner, track)
        assert status == 200
        assert body["end_customer_quota"] == {"used": 1, "limit": 10, "remaining": 9}
    customer = EndCustomer.objects.get(pk=owner.customer.pk)
    assert customer.period_start == first_start + timedelta(days=30)
    assert customer.period_end == first_start + timedelta(days=60)
    assert list(
        UsagePeriod.objects.filter(customer=customer).order_by("period_start").values_list("used", flat=True)
    ) == [10, 1]


def test_windows_stay_back_to_back_after_a_long_absence(owner: Persona, track: Track) -> None:
    first_start = owner.customer.period_start
    with time_machine.travel(timezone.now() + timedelta(days=95)):
        assert tryon(owner, track)[0] == 200
    customer = EndCustomer.objects.get(pk=owner.customer.pk)
    assert customer.period_start == first_start + timedelta(days=90)


def test_plan_change_applies_from_the_next_period(owner: Persona, track: Track) -> None:
    tryon(owner, track)
    owner.plan.monthly_try_ons = 50
    owner.plan.save(update_fields=["monthly_try_ons"])
    assert tryon(owner, track)[1]["end_customer_quota"]["limit"] == 10
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert tryon(owner, track)[1]["end_customer_quota"] == {"used": 1, "limit": 50, "remaining": 49}


def test_legacy_try_ons_do_not_touch_any_quota(owner: Persona, track: Track) -> None:
    track({"api_key": owner.secret})
    assert UsagePeriod.objects.get(customer=owner.customer).used == 0
