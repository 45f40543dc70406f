"""A customer's detail page (tryon/views.py `customer`) and its actions (quotas/views.py): pause,
resume, change plan, reset period — through the API's services, audited, no-ops when repeated."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Persona
from quotas.models import EndCustomer, UsagePeriod
from quotas.services import usage_period_current
from quotas.sessions import session_mint
from quotas.tests.factories import PlanFactory
from stores.models import AuditEntry
from tryon.models import TryOnEvent
from tryon.tests.factories import TryOnEventFactory

pytestmark = pytest.mark.django_db
Status = EndCustomer.Status
Action = AuditEntry.Action


@pytest.fixture
def signed_in(client: Client, owner: Persona) -> Client:
    client.force_login(owner.user)
    return client


def url(name: str, persona: Persona, customer: EndCustomer | None = None) -> str:
    customer = customer or persona.customer
    return reverse(name, kwargs={"store_id": persona.store.public_id, "customer_id": customer.public_id})


def audits(persona: Persona, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(store=persona.store, action=action).order_by("id"))


def test_detail_shows_plan_usage_history_sessions_and_events(signed_in: Client, owner: Persona) -> None:
    customer = owner.customer
    period = usage_period_current(customer=customer, now=customer.period_start)
    assert period is not None
    UsagePeriod.objects.filter(pk=period.pk).update(used=3)
    minted = session_mint(customer=customer)
    TryOnEventFactory(api_key=owner.key, end_customer=customer, product_title="Mine")
    TryOnEventFactory(api_key=owner.key, product_title="Guest's")
    response = signed_in.get(url("portal-customer", owner))
    assert response.status_code == 200
    html = response.content.decode()
    assert owner.plan.name in html
    assert "3 of 10 used · 7 left" in html
    assert [p.pk for p in response.context["periods"]] == [period.pk]
    assert [s.jti for s in response.context["sessions"]] == [minted.jti]
    assert [e.product_title for e in response.context["page"].events] == ["Mine"]
    assert f"?customer={customer.external_id}" in html
    assert html.count('name="csrfmiddlewaretoken"') == 3  # pause, change plan, (reset is its own page)


def test_customers_list_links_to_the_detail(signed_in: Client, owner: Persona) -> None:
    html = signed_in.get(reverse("portal-customers", kwargs={"store_id": owner.store.public_id})).content.decode()
    assert url("portal-customer", owner) in html


def test_events_page_filters_by_customer(signed_in: Client, owner: Persona, outsider: Persona) -> None:
    TryOnEventFactory(api_key=owner.key, end_customer=owner.customer, product_title="Mine")
    TryOnEventFactory(api_key=owner.key, product_title="Guest's")
    events = reverse("portal-events", kwargs={"store_id": owner.store.public_id})
    for ref in (owner.customer.external_id, owner.customer.public_id):
        page = signed_in.get(events, {"customer": ref}).context["page"]
        assert [e.product_title for e in page.events] == ["Mine"]
    assert signed_in.get(events, {"customer": outsider.customer.public_id}).context["page"].events == []


def test_pause_then_resume_audited_with_the_merchant_as_actor(signed_in: Client, owner: Persona) -> None:
    response = signed_in.post(url("portal-customer-pause", owner), follow=True)
    assert response.redirect_chain[-1][0] == url("portal-customer", owner)
    assert "owner-shopper paused" in response.content.decode()
    owner.customer.refresh_from_db()
    assert owner.customer.status == Status.PAUSED
    signed_in.post(url("portal-customer-resume", owner))
    owner.customer.refresh_from_db()
    assert owner.customer.status == Status.ACTIVE
    entries = audits(owner, Action.CUSTOMER_STATUS_CHANGED)
    assert [(e.actor, e.actor_user_id, e.detail["old"], e.detail["new"]) for e in entries] == [
        ("owner@example.com", owner.user.pk, "ACTIVE", "PAUSED"),
        ("owner@example.com", owner.user.pk, "PAUSED", "ACTIVE"),
    ]


def test_pausing_twice_is_a_no_op_with_a_message(signed_in: Client, owner: Persona) -> None:
    signed_in.post(url("portal-customer-pause", owner))
    response = signed_in.post(url("portal-customer-pause", owner), follow=True)
    assert "already paused; nothing changed" in response.content.decode()
    assert len(audits(owner, Action.CUSTOMER_STATUS_CHANGED)) == 1
    response = signed_in.post(url("portal-customer-resume", owner))
    response = signed_in.post(url("portal-customer-resume", owner), follow=True)
    assert "already active; nothing changed" in response.content.decode()
    assert len(audits(owner, Action.CUSTOMER_STATUS_CHANGED)) == 2


def test_a_cancelled_customer_is_not_resumed(signed_in: Client, owner: Persona) -> None:
    EndCustomer.objects.filter(pk=owner.customer.pk).update(status=Status.CANCELLED)
    response = signed_in.post(url("portal-customer-resume", owner), follow=True)
    assert "a cancelled customer stays so" in response.content.decode()
    owner.customer.refresh_from_db()
    assert owner.customer.status == Status.CANCELLED
    assert audits(owner, Action.CUSTOMER_STATUS_CHANGED) == []


def test_actions_are_post_only(signed_in: Client, owner: Persona) -> None:
    for name in ("portal-customer-pause", "portal-customer-resume", "portal-customer-plan"):
        assert signed_in.get(url(name, owner)).status_code == 405
    owner.customer.refresh_from_db()
    assert owner.customer.status == Status.ACTIVE


def test_change_plan_starts_a_fresh_period_audited(signed_in: Client, owner: Persona) -> None:
    pro = PlanFactory(store=owner.store, name="Pro", monthly_try_ons=50)
    response = signed_in.post(url("portal-customer-plan", owner), {"plan": pro.public_id}, follow=True)
    assert "moved to “Pro”" in response.content.decode()
    owner.customer.refresh_from_db()
    assert owner.customer.plan_id == pro.pk
    assert UsagePeriod.objects.get(customer=owner.customer, period_start=owner.customer.period_start).limit == 50
    [entry] = audits(owner, Action.CUSTOMER_PLAN_CHANGED)
    assert (entry.actor_user_id, entry.detail["old"], entry.detail["new"]) == (
        owner.user.pk,
        owner.plan.public_id,
        pro.public_id,
    )
    again = signed_in.post(url("portal-customer-plan", owner), {"plan": pro.public_id}, follow=True)
    assert "already on “Pro”; nothing changed" in again.content.decode()
    assert len(audits(owner, Action.CUSTOMER_PLAN_CHANGED)) == 1


def test_change_plan_refuses_disabled_and_other_stores_plans(
    signed_in: Client, owner: Persona, outsider: Persona
) -> None:
    disabled = PlanFactory(store=owner.store, name="Old", active=False)
    for plan in (disabled, outsider.plan):
        response = signed_in.post(url("portal-customer-plan", owner), {"plan": plan.public_id}, follow=True)
        assert "Choose one of this store’s active plans." in response.content.decode()
    owner.customer.refresh_from_db()
    assert owner.customer.plan_id == owner.plan.pk
    assert audits(owner, Action.CUSTOMER_PLAN_CHANGED) == []


def test_reset_asks_for_confirmation_then_resets_once(signed_in: Client, owner: Persona) -> None:
    customer = owner.customer
    usage_period_current(customer=customer, now=customer.period_start)
    UsagePeriod.objects.filter(customer=customer).update(used=9)
    confirm = signed_in.get(url("portal-customer-reset", owner))
    assert confirm.status_code == 200
    assert "Reset this customer's period?" in confirm.content.decode()
    assert UsagePeriod.objects.filter(customer=customer).count() == 1  # a GET changes nothing
    form = {"period_start": customer.period_start.isoformat()}
    response = signed_in.post(url("portal-customer-reset", owner), form, follow=True)
    assert "reset: a fresh period" in response.content.decode()
    customer.refresh_from_db()
    fresh = UsagePeriod.objects.get(customer=customer, period_start=customer.period_start)
    assert (fresh.used, fresh.limit) == (0, 10)
    [entry] = audits(owner, Action.CUSTOMER_PERIOD_RESET)
    assert (entry.actor_user_id, entry.detail["period_start"]) == (owner.user.pk, customer.period_start.isoformat())
    # The same form submitted again (a double click, a reload) names a period that was reset.
    again = signed_in.post(url("portal-customer-reset", owner), form, follow=True)
    assert "already reset; nothing changed" in again.content.decode()
    assert len(audits(owner, Action.CUSTOMER_PERIOD_RESET)) == 1
    assert UsagePeriod.objects.filter(customer=customer).count() == 2


def test_reset_with_a_garbled_period_changes_nothing(signed_in: Client, owner: Persona) -> None:
    signed_in.post(url("portal-customer-reset", owner), {"period_start": "yesterday"})
    assert audits(owner, Action.CUSTOMER_PERIOD_RESET) == []


PAGES = ["portal-customer", "portal-customer-pause", "portal-customer-resume", "portal-customer-plan"]


@pytest.mark.parametrize("name", [*PAGES, "portal-customer-reset"])
def test_another_store_s_customer_is_404(client: Client, owner: Persona, outsider: Persona, name: str) -> None:
    client.force_login(outsider.user)
    # The outsider's own store with the owner's customer id: not theirs, 404 …
    if name in ("portal-customer", "portal-customer-reset"):
        assert client.get(url(name, outsider, owner.customer)).status_code == 404
    assert client.post(url(name, outsider, owner.customer), {"plan": outsider.plan.public_id}).status_code == 404
    # … and the owner's store, which they are no member of.
    assert client.post(url(name, owner)).status_code == 404
    owner.customer.refresh_from_db()
    assert (owner.customer.status, owner.customer.plan_id) == (Status.ACTIVE, owner.plan.pk)
    assert not AuditEntry.objects.filter(target=owner.customer.public_id).exists()


@pytest.mark.parametrize("name", [*PAGES, "portal-customer-reset"])
def test_needs_sign_in(client: Client, owner: Persona, name: str) -> None:
    response = client.post(url(name, owner))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_last_fifty_events_and_a_link_to_the_rest(signed_in: Client, owner: Persona) -> None:
    for _ in range(51):
        TryOnEventFactory(api_key=owner.key, end_customer=owner.customer, outcome=TryOnEvent.Outcome.DEBITED)
    page = signed_in.get(url("portal-customer", owner)).context["page"]
    assert len(page.events) == 50
    assert page.older is not None


def test_past_periods_newest_first(signed_in: Client, owner: Persona) -> None:
    customer = owner.customer
    usage_period_current(customer=customer, now=customer.period_start)
    later = usage_period_current(customer=customer, now=customer.period_end + timedelta(hours=1))
    periods = signed_in.get(url("portal-customer", owner)).context["periods"]
    assert later is not None
    assert len(periods) == 2
    assert periods[0].pk == later.pk
