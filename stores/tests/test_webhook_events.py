"""Each webhook event type fires on its trigger and only then (SPEC §7).

The outbox is read as the worker sees it, after `webhooks_dispatch` has turned flagged try-ons
into events and events into deliveries. Every step asserts the complete list of what it fired,
so an event that fires on a neighbour's trigger fails as surely as one that does not fire.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from fractions import Fraction
from math import ceil
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.db import OperationalError, connection
from django.utils import timezone

from conftest import V1, Persona, Track
from genvoris.fields import iso_utc
from quotas.models import EndCustomer, UsagePeriod
from quotas.services import (
    end_customer_cancel,
    end_customer_create,
    end_customer_period_restart,
    end_customer_update,
    plan_create,
    plan_deactivate,
    plan_update,
)
from quotas.tests.factories import EndCustomerFactory, PlanFactory
from stores.models import Store, WebhookDelivery, WebhookEndpoint, WebhookEvent
from stores.services import COMMAND, credit_adjust, credit_packs_expire, credit_topup, store_update
from stores.tests.receiver import receiving
from stores.tests.test_webhook_delivery import ACTOR, deliver_due, subscribe
from stores.webhooks.catalogue import ALL, EVENT_TYPES, LEGACY_EVENT_TYPES, SUBSCRIBABLE
from stores.webhooks.services import webhook_endpoint_update, webhook_test_send
from stores.webhooks.worker import webhooks_dispatch
from tryon.models import TryOnEvent

# Never called: these tests read the outbox and the deliveries made, not the wire (but one).
HOOK = "http://127.0.0.1:9/hooks"
EXHAUSTED = ["customer.quota_exhausted", "end_customer.quota_exhausted"]
SPEC_TYPES = {
    "tryon.completed",
    "tryon.failed",
    "customer.quota_exhausted",
    "customer.plan_changed",
    "credit.low_balance",
    "credit.balance_added",
    "end_customer.quota_warning",
    "end_customer.period_rolled",
}
LEGACY_TYPES = {
    "end_customer.created",
    "end_customer.updated",
    "end_customer.cancelled",
    "end_customer.quota_exhausted",
    "plan.created",
    "plan.updated",
    "plan.disabled",
}


@pytest.fixture(autouse=True)
def _private_urls(settings: pytest.FixtureRequest) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # type: ignore[attr-defined]


class Outbox:
    """A store's events since the last look, once the worker has fanned them out."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seen = 0
        self.last: list[WebhookEvent] = []

    def fired(self) -> list[str]:
        """The types written since the last call, sorted (a try-on's come out in one batch)."""
        webhooks_dispatch(now=timezone.now())
        self.last = list(WebhookEvent.objects.filter(store=self.store, pk__gt=self.seen).order_by("pk"))
        if self.last:
            self.seen = self.last[-1].pk
        return sorted(event.type for event in self.last)

    def one(self, event_type: str) -> dict[str, Any]:
        """The data of the one event of this type in the last look."""
        (event,) = [e for e in self.last if e.type == event_type]
        data: dict[str, Any] = event.data
        return data


@pytest.fixture
def hooked(owner: Persona) -> Outbox:
    """The owner's store with one endpoint taking every type. The threshold is 0 (never crossed),
    so that the first debit's low balance does not sit in every list; its tests set their own."""
    subscribe(owner, HOOK, [ALL])
    store_update(store=owner.store, low_balance_threshold=0)
    return Outbox(owner.store)


def tried(
    track: Track,
    owner: Persona,
    customer: EndCustomer | None = None,
    *,
    success: bool = True,
    token: str | None = None,
) -> Any:
    body: dict[str, Any] = {"api_key": owner.secret, "success": success}
    if customer is not None:
        body["end_customer_token"] = token or owner.token(customer)
    return track(body)


def delivered(endpoint: WebhookEndpoint) -> list[str]:
    return sorted(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event__type", flat=True))


def balance(owner: Persona) -> int:
    return Store.objects.get(pk=owner.store.pk).credit_balance


def warning_try_on(limit: int) -> int:
    """The try-on that reaches 80 % of the quota, worked out apart from the code under test."""
    return ceil(Fraction(4, 5) * limit)


def test_the_catalogue_holds_the_spec_types_and_the_legacy_names() -> None:
    assert set(EVENT_TYPES) == SPEC_TYPES
    assert set(LEGACY_EVENT_TYPES) == LEGACY_TYPES
    assert set(SUBSCRIBABLE) == SPEC_TYPES | LEGACY_TYPES
    assert "webhook.test" not in SUBSCRIBABLE  # a ping goes to the endpoint pinged, never to "*"


# --- plans and customers ------------------------------------------------------------------------


def test_plan_events_fire_on_their_own_changes(hooked: Outbox, api: V1) -> None:
    created = api.post("/plans", {"name": "Pro", "monthlyTryOns": 50})
    assert created.status_code == 201
    plan_id = created.json()["id"]
    assert hooked.fired() == ["plan.created"]
    assert hooked.one("plan.created")["plan"]["id"] == plan_id

    assert api.patch(f"/plans/{plan_id}", {"name": "Pro"}).status_code == 200  # nothing changed
    assert hooked.fired() == []
    api.patch(f"/plans/{plan_id}", {"name": "Pro+", "monthlyTryOns": 60})
    assert hooked.fired() == ["plan.updated"]
    updated = hooked.one("plan.updated")["plan"]
    assert (updated["id"], updated["name"], updated["monthlyTryOns"]) == (plan_id, "Pro+", 60)

    assert api.delete(f"/plans/{plan_id}").status_code == 204
    assert hooked.fired() == ["plan.disabled", "plan.updated"]
    assert hooked.one("plan.disabled")["plan"]["active"] is False
    assert api.delete(f"/plans/{plan_id}").status_code == 204  # already disabled
    assert hooked.fired() == []
    api.patch(f"/plans/{plan_id}", {"active": True})  # enabled again: an update, nothing else
    assert hooked.fired() == ["plan.updated"]


def test_customer_events_fire_on_create_update_and_cancel_only(hooked: Outbox, api: V1) -> None:
    created = api.post("/customers", {"externalId": "ada", "email": "ada@example.com"})
    assert created.status_code == 201
    customer_id = created.json()["id"]
    assert hooked.fired() == ["end_customer.created"]
    assert hooked.one("end_customer.created")["customer"]["id"] == customer_id

    same = api.post("/customers", {"externalId": "ada", "email": "ada@example.com"})
    assert same.status_code == 200
    assert hooked.fired() == []  # an upsert that changes nothing is no update
    api.post("/customers", {"externalId": "ada", "email": "ada@example.org"})
    assert hooked.fired() == ["end_customer.updated"]  # and not created
    assert hooked.one("end_customer.updated")["changedFields"] == ["email"]
    assert hooked.one("end_customer.updated")["customer"]["email"] == "ada@example.org"

    api.patch(f"/customers/{customer_id}", {"metadata": {"tier": "gold"}})
    assert hooked.fired() == ["end_customer.updated"]
    assert hooked.one("end_customer.updated")["changedFields"] == ["metadata"]
    api.patch(f"/customers/{customer_id}", {"status": "PAUSED"})
    assert hooked.fired() == ["end_customer.updated"]  # paused is not cancelled
    api.patch(f"/customers/{customer_id}", {"status": "ACTIVE"})
    assert hooked.fired() == ["end_customer.updated"]

    assert api.delete(f"/customers/{customer_id}").status_code == 204
    assert hooked.fired() == ["end_customer.cancelled", "end_customer.updated"]
    assert hooked.one("end_customer.cancelled")["customer"]["status"] == "CANCELLED"
    assert api.delete(f"/customers/{customer_id}").status_code == 204
    assert hooked.fired() == []


def test_a_plan_change_carries_the_previous_plan_and_rolls_the_period(owner: Persona, hooked: Outbox) -> None:
    pro = PlanFactory(store=owner.store, monthly_try_ons=40)
    customer = end_customer_update(customer=owner.customer, plan=pro, now=timezone.now())
    assert hooked.fired() == ["customer.plan_changed", "end_customer.period_rolled", "end_customer.updated"]
    changed = hooked.one("customer.plan_changed")
    assert (changed["previousPlanId"], changed["customer"]["planId"]) == (owner.plan.public_id, pro.public_id)
    assert changed["customer"]["id"] == owner.customer.public_id
    rolled = hooked.one("end_customer.period_rolled")
    assert (rolled["reason"], rolled["period"]["limit"]) == ("plan_changed", 40)
    assert rolled["period"]["periodStart"] == iso_utc(customer.period_start)
    assert hooked.one("end_customer.updated")["changedFields"] == ["planId"]

    end_customer_update(customer=customer, plan=pro, now=timezone.now())  # the plan it is on
    assert hooked.fired() == []
    end_customer_update(customer=customer, plan=None, now=timezone.now())  # off any plan: no period to roll
    assert hooked.fired() == ["customer.plan_changed", "end_customer.updated"]
    assert hooked.one("customer.plan_changed")["previousPlanId"] == pro.public_id
    end_customer_update(customer=customer, plan=owner.plan, now=timezone.now())
    assert hooked.fired() == ["customer.plan_changed", "end_customer.period_rolled", "end_customer.updated"]
    assert hooked.one("customer.plan_changed")["previousPlanId"] is None


def test_a_reset_rolls_the_period_and_fires_nothing_else(owner: Persona, hooked: Outbox) -> None:
    end_customer_update(customer=owner.customer, reset_period=True, now=timezone.now())
    assert hooked.fired() == ["end_customer.period_rolled"]
    assert hooked.one("end_customer.period_rolled")["reason"] == "reset"
    end_customer_period_restart(customer=owner.customer, now=timezone.now())  # support's reset, in the admin
    assert hooked.fired() == ["end_customer.period_rolled"]
    assert hooked.one("end_customer.period_rolled")["reason"] == "reset"


def test_a_period_that_ends_rolls_once_on_the_next_try_on(owner: Persona, hooked: Outbox, track: Track) -> None:
    ended = owner.customer.period_end
    assert tried(track, owner, owner.customer).status_code == 200
    assert hooked.fired() == ["tryon.completed"]
    with time_machine.travel(ended + timedelta(minutes=1), tick=False):
        assert tried(track, owner, owner.customer).status_code == 200
        assert hooked.fired() == ["end_customer.period_rolled", "tryon.completed"]
        rolled = hooked.one("end_customer.period_rolled")
        assert (rolled["reason"], rolled["period"]["periodStart"]) == ("renewed", iso_utc(ended))
        assert rolled["customer"]["id"] == owner.customer.public_id
        assert tried(track, owner, owner.customer).status_code == 200
        assert hooked.fired() == ["tryon.completed"]


def test_a_period_that_ends_rolls_on_the_next_change_of_the_customer(owner: Persona, hooked: Outbox) -> None:
    with time_machine.travel(owner.customer.period_end + timedelta(minutes=1), tick=False):
        end_customer_update(customer=owner.customer, email="new@example.com", now=timezone.now())
        assert hooked.fired() == ["end_customer.period_rolled", "end_customer.updated"]
        assert hooked.one("end_customer.period_rolled")["reason"] == "renewed"
        end_customer_update(customer=owner.customer, email="newer@example.com", now=timezone.now())
        assert hooked.fired() == ["end_customer.updated"]


# --- try-ons and quotas -------------------------------------------------------------------------


def test_a_debit_fires_completed_and_a_failed_report_fires_failed(owner: Persona, hooked: Outbox, track: Track) -> None:
    assert tried(track, owner).status_code == 200
    assert hooked.fired() == ["tryon.completed"]
    completed = hooked.one("tryon.completed")
    row = TryOnEvent.objects.get(store=owner.store)
    assert (completed["tryOn"]["id"], completed["tryOn"]["outcome"]) == (row.public_id, "debited")
    assert (completed["creditsDebited"], completed["customer"]) == (1, None)

    assert tried(track, owner, owner.customer, success=False).status_code == 200
    assert hooked.fired() == ["tryon.failed"]
    failed = hooked.one("tryon.failed")
    assert (failed["creditsDebited"], failed["customer"]["id"]) == (0, owner.customer.public_id)

    assert tried(track, owner, owner.customer).status_code == 200
    assert hooked.fired() == ["tryon.completed"]
    assert hooked.one("tryon.completed")["customer"]["id"] == owner.customer.public_id


def test_a_blocked_try_on_fires_no_try_on_event(owner: Persona, hooked: Outbox, track: Track) -> None:
    token = owner.token(owner.customer)  # minted while active: a paused shopper cannot mint one
    end_customer_update(customer=owner.customer, status="PAUSED", now=timezone.now())
    assert hooked.fired() == ["end_customer.updated"]
    assert tried(track, owner, owner.customer, token=token).status_code == 402
    assert hooked.fired() == []  # paused is not exhausted, and nothing was tried on
    Store.objects.filter(pk=owner.store.pk).update(credit_balance=0)
    response = tried(track, owner)
    assert (response.status_code, response.json()["error"]) == (402, "credit_limit_reached")
    assert hooked.fired() == []


def test_the_quota_warning_fires_once_a_period_and_exhausted_on_the_last_and_each_refusal(
    owner: Persona, hooked: Outbox, track: Track
) -> None:
    customer, limit = owner.customer, owner.plan.monthly_try_ons
    assert (limit, warning_try_on(limit)) == (10, 8)
    for n in range(1, limit + 1):
        assert tried(track, owner, customer).status_code == 200
        expected = [
            "tryon.completed",
            *(["end_customer.quota_warning"] if n == 8 else []),
            *(EXHAUSTED if n == 10 else []),
        ]
        assert hooked.fired() == sorted(expected), n
        if n == 8:
            warning = hooked.one("end_customer.quota_warning")
            assert warning["usage"] == {**warning["usage"], "used": 8, "limit": 10, "remaining": 2}
            assert warning["customer"]["id"] == customer.public_id
            assert warning["tryOnId"] == TryOnEvent.objects.filter(store=owner.store).latest("id").public_id
    exhausted = hooked.one("customer.quota_exhausted")
    assert (exhausted["usage"]["used"], exhausted["usage"]["remaining"]) == (10, 0)
    assert hooked.one("end_customer.quota_exhausted") == exhausted  # the older name, the same event
    for _ in range(2):  # each refusal is reported, never as a warning or a try-on
        response = tried(track, owner, customer)
        assert (response.status_code, response.json()["reason"]) == (402, "quota_exhausted")
        assert hooked.fired() == EXHAUSTED
        refused = TryOnEvent.objects.filter(store=owner.store).latest("id")
        assert hooked.one("customer.quota_exhausted")["tryOnId"] == refused.public_id
    assert tried(track, owner, customer, success=False).status_code == 200
    assert hooked.fired() == ["tryon.failed"]

    with time_machine.travel(customer.period_end + timedelta(minutes=1), tick=False):
        for n in range(1, 9):
            assert tried(track, owner, customer).status_code == 200
            fired = hooked.fired()
            assert ("end_customer.period_rolled" in fired) == (n == 1), n
            assert ("end_customer.quota_warning" in fired) == (n == 8), n  # again, in the new period


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 6, 7, 9, 11, 13])
def test_the_warning_is_the_try_on_that_reaches_80_percent(
    owner: Persona, hooked: Outbox, track: Track, limit: int
) -> None:
    customer = EndCustomerFactory(store=owner.store, plan=PlanFactory(store=owner.store, monthly_try_ons=limit))
    assert hooked.fired() == ["end_customer.created"]
    warned, exhausted = [], []
    for n in range(1, limit + 1):
        assert tried(track, owner, customer).status_code == 200
        fired = hooked.fired()
        if "end_customer.quota_warning" in fired:
            warned.append(n)
        if "customer.quota_exhausted" in fired:
            exhausted.append(n)
    assert (warned, exhausted) == ([warning_try_on(limit)], [limit])


def test_a_quota_raised_mid_period_does_not_warn_twice(owner: Persona, hooked: Outbox, track: Track) -> None:
    for _ in range(8):
        tried(track, owner, owner.customer)
    assert "end_customer.quota_warning" in hooked.fired()
    plan_update(plan=owner.plan, monthly_try_ons=20)  # from the next period (limits are snapshots)
    assert hooked.fired() == ["plan.updated"]
    for n in (9, 10):
        assert tried(track, owner, owner.customer).status_code == 200
        assert hooked.fired() == sorted(["tryon.completed", *(EXHAUSTED if n == 10 else [])])


def test_a_reset_period_warns_again(owner: Persona, hooked: Outbox, track: Track) -> None:
    for _ in range(8):
        tried(track, owner, owner.customer)
    assert "end_customer.quota_warning" in hooked.fired()
    end_customer_update(customer=owner.customer, reset_period=True, now=timezone.now())
    assert hooked.fired() == ["end_customer.period_rolled"]
    warned = []
    for n in range(1, 11):
        tried(track, owner, owner.customer)
        if "end_customer.quota_warning" in hooked.fired():
            warned.append(n)
    assert warned == [8]


# --- credits ------------------------------------------------------------------------------------


def test_low_balance_fires_once_on_each_downward_crossing(owner: Persona, hooked: Outbox, track: Track) -> None:
    store_update(store=owner.store, low_balance_threshold=98)

    def debit_to(target: int) -> list[list[str]]:
        fired = []
        while balance(owner) > target:
            assert tried(track, owner).status_code == 200
            fired.append([t for t in hooked.fired() if t != "tryon.completed"])
        return fired

    def topped_up(credits: int) -> list[str]:
        credit_topup(store=owner.store, credits=credits, actor=COMMAND)
        return hooked.fired()

    assert debit_to(96) == [[], [], ["credit.low_balance"], []]  # 99, 98 (not below), 97, 96
    assert topped_up(1) == ["credit.balance_added"]  # 97: still below, so the next debit is no crossing
    assert debit_to(96) == [[]]
    assert topped_up(2) == ["credit.balance_added"]  # 98: at the threshold, not below it
    assert debit_to(97) == [["credit.low_balance"]]
    assert hooked.one("credit.low_balance") == {"balance": 97, "threshold": 98}
    assert topped_up(10) == ["credit.balance_added"]  # 107
    assert debit_to(96) == [[]] * 9 + [["credit.low_balance"], []]


def test_balance_added_fires_on_every_top_up(owner: Persona, hooked: Outbox) -> None:
    packs = []
    for credits in (5, 5, 1):
        pack, after = credit_topup(store=owner.store, credits=credits, actor=COMMAND, valid_days=30)
        packs.append(pack)
        assert hooked.fired() == ["credit.balance_added"]
        added = hooked.one("credit.balance_added")
        assert (added["packId"], added["credits"], added["balance"]) == (pack.public_id, credits, after)
        assert added["expiresAt"] == iso_utc(pack.expires_at)
    assert balance(owner) == 111


def test_an_adjustment_that_adds_credits_fires_balance_added(owner: Persona, hooked: Outbox) -> None:
    """Review finding: support's +N reached the balance but not a merchant who follows it by webhook."""
    entry, after = credit_adjust(store=owner.store, delta=25, reason="Goodwill", actor=COMMAND)
    assert hooked.fired() == ["credit.balance_added"]
    added = hooked.one("credit.balance_added")
    assert (added["packId"], added["credits"], added["balance"]) == (entry.pack.public_id, 25, after)
    credit_adjust(store=owner.store, delta=-5, reason="Correction", actor=COMMAND)
    assert hooked.fired() == []  # taking credits adds nothing


def test_a_pack_expiring_across_the_threshold_fires_low_balance(owner: Persona, hooked: Outbox) -> None:
    store_update(store=owner.store, low_balance_threshold=105)
    credit_topup(store=owner.store, credits=10, actor=COMMAND, valid_days=1)  # 110
    assert hooked.fired() == ["credit.balance_added"]
    later = timezone.now() + timedelta(days=2)
    assert credit_packs_expire(now=later) == (1, 10)
    assert hooked.fired() == ["credit.low_balance"]
    assert hooked.one("credit.low_balance") == {"balance": 100, "threshold": 105}
    assert credit_packs_expire(now=later) == (0, 0)
    assert hooked.fired() == []
    credit_topup(store=owner.store, credits=3, actor=COMMAND, valid_days=1)  # 103: below already
    assert hooked.fired() == ["credit.balance_added"]
    assert credit_packs_expire(now=later) == (1, 3)
    assert hooked.fired() == []  # no crossing: it was below before


def test_a_try_on_that_finds_only_expired_credits_fires_low_balance_from_the_write_off(
    owner: Persona, hooked: Outbox, track: Track
) -> None:
    store_update(store=owner.store, low_balance_threshold=100)
    with time_machine.travel(timezone.now() + timedelta(days=366), tick=False):
        response = tried(track, owner)
        assert (response.status_code, response.json()["error"]) == (402, "credit_limit_reached")
        assert hooked.fired() == ["credit.low_balance"]
        assert hooked.one("credit.low_balance") == {"balance": 0, "threshold": 100}
        assert tried(track, owner).status_code == 402
        assert hooked.fired() == []


# --- who receives what --------------------------------------------------------------------------

# What `every_trigger` fires: each subscribable type at least once.
EVERY_TRIGGER_FIRES = Counter(
    {
        "plan.created": 1,
        "plan.updated": 2,
        "plan.disabled": 1,
        "end_customer.created": 1,
        "end_customer.updated": 2,
        "end_customer.cancelled": 1,
        "customer.plan_changed": 1,
        "end_customer.period_rolled": 1,
        "tryon.completed": 1,
        "tryon.failed": 1,
        "end_customer.quota_warning": 1,
        "customer.quota_exhausted": 2,
        "end_customer.quota_exhausted": 2,
        "credit.low_balance": 1,
        "credit.balance_added": 1,
    }
)


def every_trigger(owner: Persona, track: Track) -> None:
    """One of each trigger in the catalogue, in an order a merchant might meet them."""
    store = owner.store
    store.refresh_from_db()  # the subscriptions as they stand now
    plan = plan_create(store=store, name="Trial", monthly_try_ons=1)  # plan.created
    plan_update(plan=plan, name="Trial, one try-on")  # plan.updated
    customer = end_customer_create(store=store, external_id="every-trigger")  # end_customer.created
    # end_customer.updated, customer.plan_changed, end_customer.period_rolled
    customer = end_customer_update(customer=customer, plan=plan, now=timezone.now())
    store_update(store=store, low_balance_threshold=balance(owner))
    # The one try-on of the period: tryon.completed, the warning (⌈0.8⌉ = 1), exhausted under
    # both names, and credit.low_balance.
    assert tried(track, owner, customer).status_code == 200
    assert tried(track, owner, customer).status_code == 402  # exhausted under both names, again
    assert tried(track, owner, success=False).status_code == 200  # tryon.failed
    credit_topup(store=store, credits=5, actor=COMMAND)  # credit.balance_added
    plan_deactivate(plan=plan)  # plan.updated, plan.disabled
    end_customer_cancel(customer=customer, now=timezone.now())  # end_customer.updated, end_customer.cancelled


def expected_every_trigger(only: str | None = None) -> list[str]:
    return sorted(t for t in EVERY_TRIGGER_FIRES.elements() if only in (None, t))


def test_every_trigger_fires_every_type_to_a_star_endpoint(owner: Persona, track: Track) -> None:
    assert set(EVERY_TRIGGER_FIRES) == set(SUBSCRIBABLE)
    everything, _ = subscribe(owner, HOOK, [ALL])
    every_trigger(owner, track)
    assert Outbox(owner.store).fired() == expected_every_trigger()
    assert delivered(everything) == expected_every_trigger()


@pytest.mark.parametrize("event_type", sorted(SUBSCRIBABLE))
def test_an_endpoint_of_one_type_beside_a_star_one_receives_that_type_only(
    owner: Persona, track: Track, event_type: str
) -> None:
    everything, _ = subscribe(owner, HOOK, [ALL])
    only, _ = subscribe(owner, HOOK, [event_type])
    every_trigger(owner, track)
    webhooks_dispatch(now=timezone.now())
    assert delivered(only) == expected_every_trigger(event_type)
    assert delivered(everything) == expected_every_trigger()


@pytest.mark.parametrize("event_type", sorted(SUBSCRIBABLE))
def test_a_store_subscribed_to_one_type_records_that_type_only(owner: Persona, track: Track, event_type: str) -> None:
    only, _ = subscribe(owner, HOOK, [event_type])
    every_trigger(owner, track)
    assert Outbox(owner.store).fired() == expected_every_trigger(event_type)
    assert delivered(only) == expected_every_trigger(event_type)
    assert not TryOnEvent.objects.filter(webhooks__gt=0).exists()  # every flag was reported


def test_a_disabled_endpoint_gets_nothing(owner: Persona, track: Track) -> None:
    live, _ = subscribe(owner, HOOK, [ALL])
    off, _ = subscribe(owner, HOOK, [ALL])
    webhook_endpoint_update(endpoint=off, active=False, actor=ACTOR)
    every_trigger(owner, track)
    webhooks_dispatch(now=timezone.now())
    assert delivered(live) == expected_every_trigger()
    assert delivered(off) == []


def test_a_store_whose_only_endpoint_is_disabled_records_nothing_until_it_is_enabled(
    owner: Persona, track: Track
) -> None:
    off, _ = subscribe(owner, HOOK, [ALL])
    webhook_endpoint_update(endpoint=off, active=False, actor=ACTOR)
    every_trigger(owner, track)
    outbox = Outbox(owner.store)
    assert outbox.fired() == []
    assert not WebhookDelivery.objects.exists()
    webhook_endpoint_update(endpoint=off, active=True, actor=ACTOR)
    assert tried(track, owner).status_code == 200
    assert outbox.fired() == ["tryon.completed"]
    assert delivered(off) == ["tryon.completed"]  # what happened while it was disabled stays unsent


def test_an_endpoint_created_after_an_event_gets_nothing_for_it(owner: Persona, track: Track) -> None:
    store_update(store=owner.store, low_balance_threshold=0)
    with time_machine.travel(timezone.now() + timedelta(minutes=1), tick=False) as clock:
        early, _ = subscribe(owner, HOOK, [ALL])
        clock.shift(1)
        assert tried(track, owner).status_code == 200  # reported by the worker, after `late` exists
        credit_topup(store=owner.store, credits=1, actor=COMMAND)  # written now, dispatched later
        clock.shift(1)
        late, _ = subscribe(owner, HOOK, [ALL])
        clock.shift(1)
        webhooks_dispatch(now=timezone.now())
        assert delivered(early) == ["credit.balance_added", "tryon.completed"]
        assert delivered(late) == []
        clock.shift(1)
        assert tried(track, owner).status_code == 200
        webhooks_dispatch(now=timezone.now())
    assert delivered(early) == ["credit.balance_added", "tryon.completed", "tryon.completed"]
    assert delivered(late) == ["tryon.completed"]


def test_a_store_nobody_listens_to_records_no_event_and_no_delivery(
    owner: Persona, outsider: Persona, track: Track
) -> None:
    subscribe(outsider, HOOK, [ALL])  # another store's endpoint hears none of it
    every_trigger(owner, track)
    webhooks_dispatch(now=timezone.now())
    assert not WebhookEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert not TryOnEvent.objects.filter(webhooks__gt=0).exists()


def test_a_test_ping_goes_to_its_endpoint_and_not_to_a_star_one(owner: Persona) -> None:
    with receiving() as receiver:
        pinged, _ = subscribe(owner, receiver.url, ["tryon.completed"])
        everything, _ = subscribe(owner, receiver.url, [ALL])
        _, response = webhook_test_send(endpoint=pinged)
        assert response.ok
        assert deliver_due() == 0
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["webhook.test"]
    assert delivered(pinged) == ["webhook.test"]
    assert delivered(everything) == []


def test_events_arrive_in_the_spec_envelope(owner: Persona, track: Track) -> None:
    pro = PlanFactory(store=owner.store, monthly_try_ons=40)
    with receiving() as receiver:
        subscribe(owner, receiver.url, [ALL])
        customer = end_customer_update(customer=owner.customer, plan=pro, now=timezone.now())
        assert tried(track, owner, customer).status_code == 200  # 100 → 99, below the default 100
        pack, _ = credit_topup(store=owner.store, credits=7, actor=COMMAND)
        while deliver_due():  # one delivery per endpoint per pass
            pass
        arrived = list(receiver.received)
    bodies = {}
    for request in arrived:
        body = json.loads(request.body)
        event = WebhookEvent.objects.get(public_id=body["id"])
        assert set(body) == {"id", "type", "created", "data"}
        assert body["id"].startswith("evt_")
        assert body["type"] == event.type == request.headers["x-genvoris-event"]
        assert body["created"] == int(event.created_at.timestamp())
        assert request.headers["x-genvoris-delivery"].startswith("whd_")
        bodies[body["type"]] = body["data"]
    assert sorted(bodies) == [
        "credit.balance_added",
        "credit.low_balance",
        "customer.plan_changed",
        "end_customer.period_rolled",
        "end_customer.updated",
        "tryon.completed",
    ]
    assert bodies["customer.plan_changed"]["previousPlanId"] == owner.plan.public_id
    assert bodies["customer.plan_changed"]["customer"]["planId"] == pro.public_id
    assert bodies["end_customer.period_rolled"]["customer"]["id"] == customer.public_id
    row = TryOnEvent.objects.get(store=owner.store)
    assert bodies["tryon.completed"]["tryOn"]["id"] == row.public_id
    assert bodies["tryon.completed"]["customer"]["id"] == customer.public_id
    assert bodies["credit.low_balance"] == {"balance": 99, "threshold": 100}
    assert (bodies["credit.balance_added"]["packId"], bodies["credit.balance_added"]["balance"]) == (
        pack.public_id,
        106,
    )


# --- atomicity: an event exactly when its change committed ---------------------------------------


@contextmanager
def failing(fragment: str) -> Iterator[None]:
    """The first statement containing `fragment` fails as a dropped connection would."""
    state = {"failed": False}

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if fragment in sql and not state["failed"]:
            state["failed"] = True
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield
    assert state["failed"], f"no statement contained {fragment}"


# Every statement of the debit's transaction, in order: the usage row, the try-on row (carrying
# its webhook flags), the store and pack debits, the low-balance event.
DEBIT_STATEMENTS = [
    "quotas_usageperiod SET used",
    'INSERT INTO "tryon_tryonevent"',
    "stores_store SET credit_balance",
    "stores_creditpack SET remaining",
    'INSERT INTO "stores_webhookevent"',
]
EVERYTHING_AT_ONCE = sorted(["tryon.completed", "end_customer.quota_warning", *EXHAUSTED, "credit.low_balance"])


@pytest.fixture
def one_try_on_shopper(owner: Persona) -> EndCustomer:
    """A shopper whose first try-on is their last, on the debit that crosses the store's threshold
    (100 credits, threshold 100): that debit fires five events."""
    customer: EndCustomer = EndCustomerFactory(
        store=owner.store, plan=PlanFactory(store=owner.store, monthly_try_ons=1)
    )
    return customer


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fragment", DEBIT_STATEMENTS)
def test_a_try_on_rolled_back_at_any_statement_reports_nothing(
    owner: Persona, track: Track, one_try_on_shopper: EndCustomer, fragment: str
) -> None:
    endpoint, _ = subscribe(owner, HOOK, [ALL])
    outbox = Outbox(owner.store)
    token = owner.token(one_try_on_shopper)
    with failing(fragment):
        response = track({"api_key": owner.secret, "end_customer_token": token})
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
    assert outbox.fired() == []
    assert not WebhookDelivery.objects.exists()
    assert (balance(owner), TryOnEvent.objects.count()) == (100, 0)
    assert UsagePeriod.objects.get(customer=one_try_on_shopper).used == 0

    assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 200
    assert outbox.fired() == EVERYTHING_AT_ONCE
    assert delivered(endpoint) == EVERYTHING_AT_ONCE
    assert outbox.fired() == []  # reported once


@pytest.mark.django_db(transaction=True)
def test_a_committed_try_on_whose_answer_was_lost_is_reported(
    owner: Persona, track: Track, one_try_on_shopper: EndCustomer
) -> None:
    endpoint, _ = subscribe(owner, HOOK, [ALL])
    real_commit = connection._commit

    def commit_then_lose_the_answer() -> None:
        real_commit()
        raise OperationalError("connection lost after COMMIT was sent")

    token = owner.token(one_try_on_shopper)
    with mock.patch.object(connection, "_commit", side_effect=commit_then_lose_the_answer):
        assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 503
    assert Outbox(owner.store).fired() == EVERYTHING_AT_ONCE
    assert delivered(endpoint) == EVERYTHING_AT_ONCE
    completed = WebhookEvent.objects.get(type="tryon.completed")
    assert completed.data["tryOn"]["id"] == TryOnEvent.objects.get().public_id


@pytest.mark.django_db(transaction=True)
def test_a_dispatch_that_fails_midway_reports_each_try_on_once_later(owner: Persona, track: Track) -> None:
    store_update(store=owner.store, low_balance_threshold=0)
    endpoint, _ = subscribe(owner, HOOK, ["tryon.completed"])
    for _ in range(2):
        assert tried(track, owner).status_code == 200
    with failing('INTO "stores_webhookevent"'), pytest.raises(OperationalError):
        webhooks_dispatch(now=timezone.now())
    assert not WebhookEvent.objects.exists()
    assert TryOnEvent.objects.filter(webhooks=TryOnEvent.WEBHOOK_TRYON).count() == 2  # still flagged
    outbox = Outbox(owner.store)
    assert outbox.fired() == ["tryon.completed", "tryon.completed"]
    assert outbox.fired() == []
    assert delivered(endpoint) == ["tryon.completed", "tryon.completed"]
    assert not TryOnEvent.objects.filter(webhooks__gt=0).exists()
