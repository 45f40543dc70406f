"""Support staff's plan and end-customer console (SPEC §10): edits and actions go through
quotas.services, and the audit trail names whoever made them (staff user or API key)."""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from conftest import V1, Persona
from genvoris.tests.admin_pages import admin_url, change_form_data, change_url, run_action
from quotas.models import EndCustomer, Plan, UsagePeriod
from quotas.tests.factories import EndCustomerFactory, PlanFactory
from stores.models import AuditEntry

pytestmark = pytest.mark.django_db

STAFF_EMAIL = "admin@example.com"


def audit(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


def messages_of(response: Any) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


class TestPlans:
    def test_list_and_search(self, admin_client: Client, owner: Persona, outsider: Persona) -> None:
        url = admin_url(Plan, "changelist")
        html = admin_client.get(url).content.decode()
        assert owner.plan.public_id in html
        found = admin_client.get(url, {"q": owner.store.public_id}).context["cl"].result_list
        assert [p.pk for p in found] == [owner.plan.pk]

    def test_edit_goes_through_the_service_and_is_audited(
        self, admin_client: Client, admin_user: Any, owner: Persona
    ) -> None:
        url = change_url(owner.plan)
        data = change_form_data(admin_client, url) | {
            "name": "Pro",
            "monthly_try_ons": "250",
            "external_price_id": "price_9",
        }
        assert admin_client.post(url, data).status_code == 302
        plan = Plan.objects.get(pk=owner.plan.pk)
        assert (plan.name, plan.monthly_try_ons, plan.external_price_id, plan.store) == (
            "Pro",
            250,
            "price_9",
            owner.store,
        )
        [entry] = audit(AuditEntry.Action.PLAN_UPDATED)
        assert (entry.store, entry.target, entry.actor, entry.actor_user) == (
            owner.store,
            plan.public_id,
            STAFF_EMAIL,
            admin_user,
        )
        assert entry.detail["monthly_try_ons"] == [10, 250]
        assert entry.detail["external_price_id"] == ["", "price_9"]

    def test_an_unchanged_save_writes_no_audit_entry(self, admin_client: Client, owner: Persona) -> None:
        url = change_url(owner.plan)
        assert admin_client.post(url, change_form_data(admin_client, url)).status_code == 302
        assert audit(AuditEntry.Action.PLAN_UPDATED) == []

    def test_the_store_cannot_be_changed(self, admin_client: Client, owner: Persona, outsider: Persona) -> None:
        url = change_url(owner.plan)
        data = change_form_data(admin_client, url) | {"store": outsider.store.pk}
        assert admin_client.post(url, data).status_code == 302
        assert Plan.objects.get(pk=owner.plan.pk).store == owner.store

    @pytest.mark.parametrize(
        ("field", "value"), [("monthly_try_ons", "0"), ("monthly_try_ons", "1000001"), ("name", " ")]
    )
    def test_bad_input_shows_errors_and_changes_nothing(
        self, admin_client: Client, owner: Persona, field: str, value: str
    ) -> None:
        url = change_url(owner.plan)
        response = admin_client.post(url, change_form_data(admin_client, url) | {field: value})
        assert response.status_code == 200
        assert response.context["adminform"].form.errors[field]
        assert Plan.objects.get(pk=owner.plan.pk).monthly_try_ons == 10
        assert audit(AuditEntry.Action.PLAN_UPDATED) == []

    def test_a_taken_name_is_refused_in_words_on_change_and_add(self, admin_client: Client, owner: Persona) -> None:
        """Renaming a plan to a name its store has was a 500 (the store is read-only on the change
        form, so Django skipped the constraint); adding one named the constraint."""
        other = PlanFactory(store=owner.store, name="Beta")
        url = change_url(other)
        response = admin_client.post(url, change_form_data(admin_client, url) | {"name": owner.plan.name.upper()})
        assert response.status_code == 200
        assert "already has a plan named" in str(response.context["adminform"].form.errors["name"])
        assert Plan.objects.get(pk=other.pk).name == "Beta"
        data = {
            "store": owner.store.pk,
            "name": "beta",
            "monthly_try_ons": "5",
            "external_price_id": "",
            "active": "on",
        }
        response = admin_client.post(admin_url(Plan, "add"), data)
        assert response.status_code == 200
        errors = str(response.context["adminform"].form.errors)
        assert "already has a plan named" in errors
        assert "quotas_plan_store_name_unique" not in errors
        assert Plan.objects.filter(store=owner.store, name__iexact="beta").count() == 1

    def test_add_goes_through_the_service(self, admin_client: Client, admin_user: Any, owner: Persona) -> None:
        data = {
            "store": owner.store.pk,
            "name": "Team",
            "monthly_try_ons": "500",
            "external_price_id": "",
            "active": "on",
        }
        response = admin_client.post(admin_url(Plan, "add"), data)
        plan = Plan.objects.get(name="Team")
        assert response.status_code == 302
        assert response["Location"] == admin_url(Plan, "changelist")
        assert (plan.store, plan.monthly_try_ons, plan.active) == (owner.store, 500, True)
        assert plan.public_id.startswith("pln_")
        [entry] = audit(AuditEntry.Action.PLAN_CREATED)
        assert (entry.target, entry.actor_user, entry.detail["monthly_try_ons"]) == (plan.public_id, admin_user, 500)

    def test_plans_are_never_deleted(self, admin_client: Client, owner: Persona) -> None:
        assert admin_client.post(admin_url(Plan, "delete", owner.plan.pk), {"post": "yes"}).status_code == 403

    def test_api_changes_name_the_key(self, api: V1, owner: Persona) -> None:
        assert api.patch(f"/plans/{owner.plan.public_id}", {"monthlyTryOns": 20}).status_code == 200
        [entry] = audit(AuditEntry.Action.PLAN_UPDATED)
        assert entry.actor == f"api:{owner.key.prefix}"
        assert entry.actor_user is None


class TestCustomerList:
    def test_columns_show_this_periods_usage(self, admin_client: Client, owner: Persona, track: Any) -> None:
        track({"api_key": owner.secret, "end_customer_token": owner.token()})
        response = admin_client.get(admin_url(EndCustomer, "changelist"))
        html = response.content.decode()
        for visible in (owner.customer.external_id, owner.customer.public_id, owner.customer.email, "1 / 10"):
            assert visible in html

    @pytest.mark.parametrize("query", ["owner-shopper", "owner-shopper@example.com", "ec_"])
    def test_search(self, admin_client: Client, owner: Persona, outsider: Persona, query: str) -> None:
        query = owner.customer.public_id if query == "ec_" else query
        found = admin_client.get(admin_url(EndCustomer, "changelist"), {"q": query}).context["cl"].result_list
        assert [c.pk for c in found] == [owner.customer.pk]

    def test_filters(self, admin_client: Client, owner: Persona, outsider: Persona) -> None:
        url = admin_url(EndCustomer, "changelist")
        run_action(admin_client, EndCustomer, "pause_customers", [outsider.customer])
        paused = admin_client.get(url, {"status__exact": "PAUSED"}).context["cl"].result_list
        assert [c.pk for c in paused] == [outsider.customer.pk]
        mine = admin_client.get(url, {"store__id__exact": owner.store.pk}).context["cl"].result_list
        assert [c.pk for c in mine] == [owner.customer.pk]

    def test_customers_cannot_be_added_or_deleted(self, admin_client: Client, owner: Persona) -> None:
        assert admin_client.get(admin_url(EndCustomer, "add")).status_code == 403
        delete = admin_url(EndCustomer, "delete", owner.customer.pk)
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403


class TestCustomerActions:
    @pytest.mark.parametrize(
        ("action", "status"),
        [("pause_customers", "PAUSED"), ("cancel_customers", "CANCELLED")],
    )
    def test_pause_and_cancel(
        self, admin_client: Client, admin_user: Any, owner: Persona, action: str, status: str
    ) -> None:
        response = run_action(admin_client, EndCustomer, action, [owner.customer])
        assert response.status_code == 302
        assert EndCustomer.objects.get(pk=owner.customer.pk).status == status
        [entry] = audit(AuditEntry.Action.CUSTOMER_STATUS_CHANGED)
        assert (entry.store, entry.target, entry.actor, entry.actor_user) == (
            owner.store,
            owner.customer.public_id,
            STAFF_EMAIL,
            admin_user,
        )
        assert (entry.detail["old"], entry.detail["new"]) == ("ACTIVE", status)

    def test_reactivate(self, admin_client: Client, owner: Persona, track: Any) -> None:
        run_action(admin_client, EndCustomer, "pause_customers", [owner.customer])
        token = owner.token()
        assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 402
        response = run_action(admin_client, EndCustomer, "reactivate_customers", [owner.customer])
        assert "Reactivated 1 customer" in messages_of(response)
        assert EndCustomer.objects.get(pk=owner.customer.pk).status == EndCustomer.Status.ACTIVE
        assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 200
        assert [e.detail["new"] for e in audit(AuditEntry.Action.CUSTOMER_STATUS_CHANGED)] == ["PAUSED", "ACTIVE"]

    def test_customers_already_in_that_state_are_left_alone(self, admin_client: Client, owner: Persona) -> None:
        response = run_action(admin_client, EndCustomer, "reactivate_customers", [owner.customer])
        assert "1 customer already active" in messages_of(response)
        assert audit(AuditEntry.Action.CUSTOMER_STATUS_CHANGED) == []

    def test_reset_period_starts_a_fresh_quota_now(
        self, admin_client: Client, admin_user: Any, owner: Persona, track: Any
    ) -> None:
        for _ in range(3):
            track({"api_key": owner.secret, "end_customer_token": owner.token()})
        old_start = owner.customer.period_start
        with time_machine.travel(timezone.now() + timedelta(days=3), tick=False):
            response = run_action(admin_client, EndCustomer, "reset_periods", [owner.customer])
            now = timezone.now()
        assert response.status_code == 302
        customer = EndCustomer.objects.get(pk=owner.customer.pk)
        assert customer.period_start == now
        assert customer.period_end == now + timedelta(days=30)
        old, new = UsagePeriod.objects.filter(customer=customer).order_by("period_start")
        assert (old.period_start, old.period_end, old.used) == (old_start, now, 3)
        assert (new.period_start, new.used, new.limit) == (now, 0, 10)
        [entry] = audit(AuditEntry.Action.CUSTOMER_PERIOD_RESET)
        assert (entry.target, entry.actor_user) == (customer.public_id, admin_user)


class TestCustomerPage:
    def test_usage_periods_newest_first(self, admin_client: Client, owner: Persona) -> None:
        with time_machine.travel(timezone.now() + timedelta(days=1)):
            run_action(admin_client, EndCustomer, "reset_periods", [owner.customer])
        response = admin_client.get(change_url(owner.customer))
        [inline] = response.context["inline_admin_formsets"]
        starts = [form.instance.period_start for form in inline.formset.forms]
        assert len(starts) == 2
        assert starts == sorted(starts, reverse=True)

    def test_edit_email_metadata_and_plan_through_the_service(
        self, admin_client: Client, admin_user: Any, owner: Persona
    ) -> None:
        bigger = PlanFactory(store=owner.store, monthly_try_ons=50)
        url = change_url(owner.customer)
        data = change_form_data(admin_client, url) | {
            "email": "new@example.com",
            "metadata": '{"crm": "A-1", "vip": true}',
            "plan": bigger.pk,
        }
        assert admin_client.post(url, data).status_code == 302
        customer = EndCustomer.objects.get(pk=owner.customer.pk)
        assert (customer.email, customer.metadata, customer.plan) == (
            "new@example.com",
            {"crm": "A-1", "vip": True},
            bigger,
        )
        assert UsagePeriod.objects.get(customer=customer, period_start=customer.period_start).limit == 50
        [entry] = audit(AuditEntry.Action.CUSTOMER_PLAN_CHANGED)
        assert (entry.detail["old"], entry.detail["new"], entry.actor_user) == (
            owner.plan.public_id,
            bigger.public_id,
            admin_user,
        )

    @pytest.mark.parametrize(
        ("metadata", "message"),
        [
            ('{"nested": {"a": 1}}', "Values must be strings, numbers, booleans or null."),
            ("[1, 2]", "Must be a JSON object."),
            (str({f"k{n}": n for n in range(21)}).replace("'", '"'), "At most 20 keys."),
            ("{not json", "Enter a valid JSON."),
        ],
    )
    def test_metadata_is_validated_like_the_api(
        self, admin_client: Client, owner: Persona, metadata: str, message: str
    ) -> None:
        url = change_url(owner.customer)
        response = admin_client.post(url, change_form_data(admin_client, url) | {"metadata": metadata})
        assert response.status_code == 200
        assert message in " ".join(response.context["adminform"].form.errors["metadata"])
        assert EndCustomer.objects.get(pk=owner.customer.pk).metadata == {}

    def test_only_this_stores_active_plans_are_offered(
        self, admin_client: Client, owner: Persona, outsider: Persona
    ) -> None:
        disabled = PlanFactory(store=owner.store, active=False)
        url = change_url(owner.customer)
        offered = set(admin_client.get(url).context["adminform"].form.fields["plan"].queryset)
        assert offered == {owner.plan}
        response = admin_client.post(url, change_form_data(admin_client, url) | {"plan": outsider.plan.pk})
        assert response.context["adminform"].form.errors["plan"]
        response = admin_client.post(url, change_form_data(admin_client, url) | {"plan": disabled.pk})
        assert response.context["adminform"].form.errors["plan"]
        assert EndCustomer.objects.get(pk=owner.customer.pk).plan == owner.plan

    def test_a_customer_on_a_disabled_plan_keeps_it(self, admin_client: Client, owner: Persona) -> None:
        Plan.objects.filter(pk=owner.plan.pk).update(active=False)
        url = change_url(owner.customer)
        assert (
            admin_client.post(url, change_form_data(admin_client, url) | {"email": "x@example.com"}).status_code == 302
        )
        assert EndCustomer.objects.get(pk=owner.customer.pk).plan == owner.plan

    def test_status_edit_is_audited(self, admin_client: Client, owner: Persona) -> None:
        url = change_url(owner.customer)
        assert admin_client.post(url, change_form_data(admin_client, url) | {"status": "PAUSED"}).status_code == 302
        [entry] = audit(AuditEntry.Action.CUSTOMER_STATUS_CHANGED)
        assert entry.actor == STAFF_EMAIL

    def test_a_customer_without_a_plan_renders(self, admin_client: Client, owner: Persona) -> None:
        customer = EndCustomerFactory(store=owner.store, plan=None)
        assert "no plan" in admin_client.get(admin_url(EndCustomer, "changelist")).content.decode()
        assert admin_client.get(change_url(customer)).status_code == 200
