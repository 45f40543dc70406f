"""Plans in the merchant portal (quotas/views.py): list, create, edit, disable, enable."""

import pytest
from django.test import Client
from django.urls import reverse

from conftest import Persona, make_member
from quotas.models import Plan
from quotas.tests.factories import PlanFactory
from stores.models import AuditEntry, Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client: Client, owner: Persona) -> Client:
    client.force_login(owner.user)
    return client


def url(name: str, persona: Persona, **kwargs: str) -> str:
    return reverse(name, kwargs={"store_id": persona.store.public_id, **kwargs})


def test_lists_the_store_s_plans_with_customer_counts(signed_in: Client, owner: Persona, outsider: Persona) -> None:
    response = signed_in.get(url("portal-plans", owner))
    assert response.status_code == 200
    plans = response.context["plans"]
    assert [(p.public_id, p.customer_count) for p in plans] == [(owner.plan.public_id, 1)]
    html = response.content.decode()
    assert owner.plan.name in html
    assert outsider.plan.name not in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_create(signed_in: Client, owner: Persona) -> None:
    body = {"name": " Pro ", "monthly_try_ons": "250", "external_price_id": "price_123"}
    response = signed_in.post(url("portal-plans", owner), body, follow=True)
    plan = Plan.objects.get(store=owner.store, name="Pro")
    assert (plan.monthly_try_ons, plan.external_price_id, plan.active) == (250, "price_123", True)
    assert "Plan “Pro” created." in response.content.decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "monthly_try_ons": "10"}, "name"),
        ({"name": "x" * 81, "monthly_try_ons": "10"}, "name"),
        ({"name": "Big", "monthly_try_ons": "1000001"}, "monthly_try_ons"),
        ({"name": "Zero", "monthly_try_ons": "0"}, "monthly_try_ons"),
        ({"name": "Text", "monthly_try_ons": "lots"}, "monthly_try_ons"),
        ({"name": "   ", "monthly_try_ons": "5"}, "name"),
    ],
)
def test_create_refuses_invalid_input(signed_in: Client, owner: Persona, body: dict[str, str], field: str) -> None:
    response = signed_in.post(url("portal-plans", owner), body)
    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert Plan.objects.filter(store=owner.store).count() == 1


def test_edit(signed_in: Client, owner: Persona) -> None:
    page = signed_in.get(url("portal-plan-edit", owner, plan_id=owner.plan.public_id))
    assert page.status_code == 200
    assert page.context["form"].initial["monthly_try_ons"] == 10
    body = {"name": "Starter+", "monthly_try_ons": "20", "external_price_id": ""}
    response = signed_in.post(url("portal-plan-edit", owner, plan_id=owner.plan.public_id), body)
    assert response.status_code == 302
    owner.plan.refresh_from_db()
    assert (owner.plan.name, owner.plan.monthly_try_ons) == ("Starter+", 20)


def test_edit_refuses_invalid_input(signed_in: Client, owner: Persona) -> None:
    body = {"name": "Starter", "monthly_try_ons": "-1"}
    response = signed_in.post(url("portal-plan-edit", owner, plan_id=owner.plan.public_id), body)
    assert response.status_code == 400
    owner.plan.refresh_from_db()
    assert owner.plan.monthly_try_ons == 10


def test_disable_and_enable(signed_in: Client, owner: Persona) -> None:
    response = signed_in.post(url("portal-plan-disable", owner, plan_id=owner.plan.public_id), follow=True)
    owner.plan.refresh_from_db()
    assert owner.plan.active is False
    assert "disabled" in response.content.decode()
    signed_in.post(url("portal-plan-enable", owner, plan_id=owner.plan.public_id))
    owner.plan.refresh_from_db()
    assert owner.plan.active is True


def test_disable_asks_for_confirmation_first(signed_in: Client, owner: Persona) -> None:
    """Found in issue 13: one click disabled a plan. The GET is a confirmation page and changes nothing."""
    plans = signed_in.get(url("portal-plans", owner)).content.decode()
    confirm_url = url("portal-plan-disable", owner, plan_id=owner.plan.public_id)
    assert f'href="{confirm_url}"' in plans  # a link to the confirmation, not a form that disables
    page = signed_in.get(confirm_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Disable “{owner.plan.name}”?" in html
    assert 'data-testid="plan-customers">1<' in html
    assert "<script" not in html.split("<main", 1)[1]  # no inline confirm(): the CSP forbids it
    owner.plan.refresh_from_db()
    assert owner.plan.active is True
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.PLAN_UPDATED).exists()


def test_a_viewer_reads_the_confirmation_without_its_button(owner: Persona) -> None:
    """Review finding: a viewer was offered "Disable plan", which then answered 403."""
    client = Client()
    client.force_login(make_member(owner.store, "reader", Membership.Role.VIEWER))
    html = client.get(url("portal-plan-disable", owner, plan_id=owner.plan.public_id)).content.decode()
    assert "Disable plan</button>" not in html
    assert "an owner or a developer can disable one" in html


def test_confirming_disables_once(signed_in: Client, owner: Persona) -> None:
    confirm_url = url("portal-plan-disable", owner, plan_id=owner.plan.public_id)
    signed_in.post(confirm_url)
    signed_in.post(confirm_url)  # the form submitted twice
    owner.plan.refresh_from_db()
    assert owner.plan.active is False
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PLAN_UPDATED)
    assert (entry.detail, entry.actor_user_id) == ({"active": [True, False]}, owner.user.pk)
    # A disabled plan has nothing to confirm: its page sends the merchant back to the list.
    assert signed_in.get(confirm_url)["Location"] == url("portal-plans", owner)


@pytest.mark.parametrize("name", ["Starter", "starter", "  STARTER "])
def test_create_refuses_a_name_the_store_already_has(signed_in: Client, owner: Persona, name: str) -> None:
    """Found in issue 13: duplicate plan names were allowed. Case and spaces do not make a new name."""
    Plan.objects.filter(pk=owner.plan.pk).update(name="Starter")
    response = signed_in.post(url("portal-plans", owner), {"name": name, "monthly_try_ons": "5"})
    assert response.status_code == 400
    assert response.context["form"].errors["name"] == [
        "This store already has a plan named “Starter”; choose another name."
    ]
    assert list(Plan.objects.filter(store=owner.store).values_list("name", flat=True)) == ["Starter"]


def test_another_store_may_use_the_name(signed_in: Client, owner: Persona, outsider: Persona) -> None:
    Plan.objects.filter(pk=outsider.plan.pk).update(name="Pro")
    signed_in.post(url("portal-plans", owner), {"name": "Pro", "monthly_try_ons": "5"})
    assert Plan.objects.filter(name="Pro").count() == 2


def test_renaming_onto_another_plan_s_name_is_refused(signed_in: Client, owner: Persona) -> None:
    PlanFactory(store=owner.store, name="Pro")
    body = {"name": "pro", "monthly_try_ons": "10", "external_price_id": ""}
    response = signed_in.post(url("portal-plan-edit", owner, plan_id=owner.plan.public_id), body)
    assert response.status_code == 400
    assert "already has a plan named “Pro”" in response.context["form"].errors["name"][0]
    owner.plan.refresh_from_db()
    assert owner.plan.name != "pro"
    # Its own name, in another case, is no clash.
    body["name"] = owner.plan.name.upper()
    assert signed_in.post(url("portal-plan-edit", owner, plan_id=owner.plan.public_id), body).status_code == 302
    owner.plan.refresh_from_db()
    assert owner.plan.name == body["name"]


def test_csrf_is_enforced(owner: Persona) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    response = client.post(url("portal-plans", owner), {"name": "Sneaky", "monthly_try_ons": "5"})
    assert response.status_code == 403
    assert not Plan.objects.filter(name="Sneaky").exists()


def test_empty_state(signed_in: Client, owner: Persona) -> None:
    owner.customer.delete()
    owner.plan.delete()
    assert "No plans yet" in signed_in.get(url("portal-plans", owner)).content.decode()


def owner_urls(owner: Persona) -> list[tuple[str, str]]:
    plan = owner.plan.public_id
    return [
        ("get", url("portal-plans", owner)),
        ("post", url("portal-plans", owner)),
        ("get", url("portal-plan-edit", owner, plan_id=plan)),
        ("post", url("portal-plan-edit", owner, plan_id=plan)),
        ("get", url("portal-plan-disable", owner, plan_id=plan)),
        ("post", url("portal-plan-disable", owner, plan_id=plan)),
        ("post", url("portal-plan-enable", owner, plan_id=plan)),
    ]


def test_every_page_and_post_is_404_for_an_outsider(client: Client, owner: Persona, outsider: Persona) -> None:
    client.force_login(outsider.user)
    for method, path in owner_urls(owner):
        body = {"name": "Hijack", "monthly_try_ons": "1"} if method == "post" else None
        assert getattr(client, method)(path, body).status_code == 404, (method, path)
    owner.plan.refresh_from_db()
    assert owner.plan.name != "Hijack"
    assert owner.plan.active
    assert not Plan.objects.filter(name="Hijack").exists()


def test_another_store_s_plan_under_my_store_is_404(signed_in: Client, owner: Persona, outsider: Persona) -> None:
    foreign = outsider.plan.public_id
    assert signed_in.get(url("portal-plan-edit", owner, plan_id=foreign)).status_code == 404
    assert signed_in.post(url("portal-plan-disable", owner, plan_id=foreign)).status_code == 404
    outsider.plan.refresh_from_db()
    assert outsider.plan.active


def test_every_page_needs_sign_in(client: Client, owner: Persona) -> None:
    for method, path in owner_urls(owner):
        response = getattr(client, method)(path)
        assert response.status_code == 302, (method, path)
        assert response["Location"].startswith("/accounts/login/"), (method, path)
    owner.plan.refresh_from_db()
    assert owner.plan.active


def test_plan_changes_in_the_portal_are_audited_as_the_merchant(owner: Persona, client: Client) -> None:
    from stores.models import AuditEntry

    client.force_login(owner.user)
    response = client.post(f"/portal/{owner.store.public_id}/plans", {"name": "Audited", "monthly_try_ons": 7})
    assert response.status_code in (200, 302)
    entry = AuditEntry.objects.filter(store=owner.store, action=AuditEntry.Action.PLAN_CREATED).latest("created_at")
    assert (entry.actor, entry.actor_user) == (owner.user.email, owner.user)
