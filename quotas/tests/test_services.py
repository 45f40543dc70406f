"""quotas.services on a caller's stale copy: the services decide on the row as stored, write only
what changes, and audit the transitions that really happened (the threaded races are in
test_concurrency.py)."""

from datetime import timedelta
from itertools import pairwise

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from conftest import Persona
from genvoris.errors import ApiError
from quotas import services
from quotas.models import EndCustomer, Plan, UsagePeriod
from quotas.services import end_customer_update, plan_create, plan_deactivate, plan_update
from quotas.tests.factories import PlanFactory
from stores.models import AuditEntry

pytestmark = pytest.mark.django_db

PAUSED, ACTIVE = EndCustomer.Status.PAUSED, EndCustomer.Status.ACTIVE


def status_trail(customer: EndCustomer) -> list[tuple[str, str]]:
    entries = AuditEntry.objects.filter(target=customer.public_id, action=AuditEntry.Action.CUSTOMER_STATUS_CHANGED)
    return [(e.detail["old"], e.detail["new"]) for e in entries.order_by("id")]


def plan_trail(plan: Plan) -> list[dict[str, list[object]]]:
    entries = AuditEntry.objects.filter(target=plan.public_id, action=AuditEntry.Action.PLAN_UPDATED)
    return [e.detail for e in entries.order_by("id")]


def periods_back_to_back(customer: EndCustomer) -> list[UsagePeriod]:
    """The customer's periods, oldest first, asserted never to run backwards or overlap."""
    periods = list(UsagePeriod.objects.filter(customer=customer).order_by("period_start"))
    assert all(p.period_end > p.period_start for p in periods)
    assert all(a.period_end <= b.period_start for a, b in pairwise(periods))
    return periods


def stale_copy(customer: EndCustomer) -> EndCustomer:
    return EndCustomer.objects.select_related("plan").get(pk=customer.pk)


class TestEndCustomerUpdate:
    def test_an_email_change_keeps_the_status_set_since_the_caller_read(self, owner: Persona) -> None:
        stale = stale_copy(owner.customer)
        end_customer_update(customer=stale_copy(owner.customer), status=PAUSED, metadata={"n": 1}, now=timezone.now())
        answered = end_customer_update(customer=stale, email="new@example.com", now=timezone.now())
        row = EndCustomer.objects.get(pk=owner.customer.pk)
        assert (row.status, row.metadata, row.email) == (PAUSED, {"n": 1}, "new@example.com")
        assert (answered.status, answered.metadata, answered.email) == (PAUSED, {"n": 1}, "new@example.com")
        assert status_trail(row) == [(ACTIVE, PAUSED)]

    def test_a_plan_change_keeps_the_email_set_since_the_caller_read(self, owner: Persona) -> None:
        other = PlanFactory(store=owner.store, monthly_try_ons=30)
        stale = stale_copy(owner.customer)
        end_customer_update(customer=stale_copy(owner.customer), email="new@example.com", now=timezone.now())
        end_customer_update(customer=stale, plan=other, now=timezone.now())
        row = EndCustomer.objects.get(pk=owner.customer.pk)
        assert (row.email, row.plan_id) == ("new@example.com", other.pk)

    def test_repeating_a_status_set_since_the_caller_read_is_no_transition(self, owner: Persona) -> None:
        stale = stale_copy(owner.customer)
        end_customer_update(customer=stale_copy(owner.customer), status=PAUSED, now=timezone.now())
        end_customer_update(customer=stale, status=PAUSED, now=timezone.now())
        assert status_trail(owner.customer) == [(ACTIVE, PAUSED)]

    def test_the_audit_names_the_status_the_row_had(self, owner: Persona) -> None:
        stale = stale_copy(owner.customer)
        end_customer_update(customer=stale_copy(owner.customer), status=PAUSED, now=timezone.now())
        end_customer_update(customer=stale, status=ACTIVE, now=timezone.now())
        assert status_trail(owner.customer) == [(ACTIVE, PAUSED), (PAUSED, ACTIVE)]
        assert EndCustomer.objects.get(pk=owner.customer.pk).status == ACTIVE

    def test_joining_a_plan_disabled_since_the_caller_read_it_is_refused(self, owner: Persona) -> None:
        other = PlanFactory(store=owner.store)
        stale_plan = Plan.objects.get(pk=other.pk)
        plan_deactivate(plan=other)
        with pytest.raises(ApiError) as refused:
            end_customer_update(customer=owner.customer, plan=stale_plan, now=timezone.now())
        assert refused.value.extra["fieldErrors"].keys() == {"planId"}
        assert EndCustomer.objects.get(pk=owner.customer.pk).plan_id == owner.plan.pk

    def test_a_now_older_than_the_running_period_never_runs_time_backwards(self, owner: Persona) -> None:
        """A request that waited for the lock behind a plan change carries an earlier `now`."""
        other = PlanFactory(store=owner.store, monthly_try_ons=30)
        earlier = timezone.now()
        stale = stale_copy(owner.customer)
        end_customer_update(customer=stale_copy(owner.customer), reset_period=True, now=earlier + timedelta(seconds=1))
        end_customer_update(customer=stale, plan=other, now=earlier)
        row = EndCustomer.objects.get(pk=owner.customer.pk)
        current = periods_back_to_back(row)[-1]
        assert (current.period_start, current.limit) == (row.period_start, 30)


class TestPlanUpdate:
    def test_a_rename_keeps_the_quota_set_since_the_caller_read(self, owner: Persona) -> None:
        stale = Plan.objects.get(pk=owner.plan.pk)
        plan_update(plan=Plan.objects.get(pk=owner.plan.pk), monthly_try_ons=50)
        answered = plan_update(plan=stale, name="Plus")
        row = Plan.objects.get(pk=owner.plan.pk)
        assert (row.name, row.monthly_try_ons) == ("Plus", 50)
        assert (answered.name, answered.monthly_try_ons) == ("Plus", 50)
        assert plan_trail(row) == [{"monthly_try_ons": [10, 50]}, {"name": [owner.plan.name, "Plus"]}]

    def test_repeating_a_change_made_since_the_caller_read_is_not_audited(self, owner: Persona) -> None:
        stale = Plan.objects.get(pk=owner.plan.pk)
        plan_deactivate(plan=Plan.objects.get(pk=owner.plan.pk))
        plan_deactivate(plan=stale)
        assert plan_trail(owner.plan) == [{"active": [True, False]}]


class TestPlanNames:
    """A name one plan of the store holds is refused to another; a plan committed between the
    check and the write is caught by quotas_plan_store_name_unique and answered the same way."""

    def test_a_name_taken_after_the_check_is_the_same_field_error(
        self, owner: Persona, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(services, "_check_name_free", lambda *args, **kwargs: None)  # the race window
        with pytest.raises(ApiError) as refused:
            plan_create(store=owner.store, name=owner.plan.name.upper(), monthly_try_ons=5)
        assert refused.value.extra["fieldErrors"] == {
            "name": [f"This store already has a plan named “{owner.plan.name}”; choose another name."]
        }
        assert Plan.objects.filter(store=owner.store).count() == 1
        assert not AuditEntry.objects.filter(action=AuditEntry.Action.PLAN_CREATED).exists()

    def test_a_rename_raced_onto_a_taken_name_is_refused(self, owner: Persona, monkeypatch: pytest.MonkeyPatch) -> None:
        other = PlanFactory(store=owner.store, name="Pro")
        monkeypatch.setattr(services, "_check_name_free", lambda *args, **kwargs: None)
        with pytest.raises(ApiError):
            plan_update(plan=other, name=owner.plan.name)
        assert Plan.objects.get(pk=other.pk).name == "Pro"
        assert plan_trail(other) == []

    def test_the_database_refuses_a_duplicate_name_on_its_own(self, owner: Persona) -> None:
        with pytest.raises(IntegrityError, match=r"quotas_plan_store_name_unique|UNIQUE"), transaction.atomic():
            Plan.objects.create(store=owner.store, name=owner.plan.name.lower(), monthly_try_ons=1)
