"""The audit trail in the portal (stores/views.py audit, stores/selectors.py audit_row): a
store's changes, newest first, to every member of that store and nobody else, without what
support keeps for itself."""

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from conftest import V1, Persona, make_member
from quotas.models import Plan
from quotas.services import plan_update
from stores.models import AuditEntry, Membership
from stores.selectors import audit_row
from stores.services import (
    COMMAND,
    SYSTEM,
    Actor,
    api_key_revoke,
    audit_record,
    store_reactivate,
    store_suspend,
    store_update,
)
from stores.tests.factories import UserFactory
from stores.views import AUDIT_PER_PAGE, NEW_KEY_SESSION

pytestmark = pytest.mark.django_db
Action = AuditEntry.Action


def audit_url(persona: Persona, **query: str) -> str:
    path = reverse("portal-audit", args=[persona.store.public_id])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def signed_in(persona: Persona, role: str = "owner") -> Client:
    client = Client()
    client.force_login(persona.user if role == "owner" else make_member(persona.store, role, role))
    return client


def rows(response: Any) -> list[tuple[str, str]]:
    return [(row.action, row.actor) for row in response.context["rows"]]


@pytest.mark.parametrize("role", [Membership.Role.OWNER, Membership.Role.DEVELOPER, Membership.Role.VIEWER])
def test_every_member_reads_their_store_s_trail_only(role: str, owner: Persona, outsider: Persona) -> None:
    plan_update(plan=owner.plan, monthly_try_ons=20, actor=Actor.of_user(owner.user))
    plan_update(plan=outsider.plan, monthly_try_ons=30, actor=Actor.of_user(outsider.user))
    response = signed_in(owner, role).get(audit_url(owner))
    assert response.status_code == 200
    targets = {row.target for row in response.context["rows"]}
    assert owner.plan.public_id in targets
    assert outsider.plan.public_id not in targets
    assert targets <= set(AuditEntry.objects.filter(store=owner.store).values_list("target", flat=True))
    html = response.content.decode()
    assert "Monthly try ons:</span> 10 → 20" in html
    assert "30" not in [c.after for row in response.context["rows"] for c in row.changes]


def test_an_outsider_and_staff_get_404(owner: Persona, outsider: Persona) -> None:
    assert signed_in(outsider).get(audit_url(owner)).status_code == 404
    staff = Client()
    staff.force_login(UserFactory(username="support@genvoris.test", is_staff=True, is_superuser=True))
    assert staff.get(audit_url(owner)).status_code == 404


def test_the_trail_is_linked_from_the_navigation(owner: Persona) -> None:
    html = signed_in(owner, Membership.Role.VIEWER).get(reverse("portal-keys", args=[owner.store.public_id])).content
    assert f'href="{audit_url(owner)}"' in html.decode()


def test_who_did_it_reads_as_the_merchant_knows_them(owner: Persona) -> None:
    staff = UserFactory(username="agent@genvoris.test", email="agent@genvoris.test", is_staff=True)
    store, target = owner.store.pk, owner.store.public_id
    for actor in (Actor.of_user(owner.user), Actor.of_user(staff), COMMAND, Actor("command"), SYSTEM):
        audit_record(store_id=store, action=Action.PLAN_UPDATED, target=target, actor=actor, detail={})
    audit_record(store_id=store, action=Action.PLAN_UPDATED, target=target, actor=Actor("api:gvk_live_abc"))
    actors = [row.actor for row in signed_in(owner).get(audit_url(owner, action="plan.updated")).context["rows"]]
    assert actors == [
        "API key gvk_live_abc…",
        "Genvoris (automatic)",
        "Genvoris support",
        "Genvoris support",
        "Genvoris support",
        owner.user.email,
    ]
    html = signed_in(owner).get(audit_url(owner)).content.decode()
    assert "agent@genvoris.test" not in html  # which colleague helped is support's business
    assert "command:" not in html


def test_staff_only_detail_is_never_shown(owner: Persona) -> None:
    """A suspension's internal note is for support colleagues; the merchant sees the reason."""
    audit_record(
        store_id=owner.store.pk,
        action=Action.STORE_SUSPENDED,
        target=owner.store.public_id,
        actor=COMMAND,
        detail={"note": "Chargeback fraud suspected", "internal_note": "see ticket 4411", "reason": "Unpaid invoice"},
    )
    response = signed_in(owner, Membership.Role.VIEWER).get(audit_url(owner))
    html = response.content.decode()
    assert "Unpaid invoice" in html
    assert "Chargeback" not in html
    assert "4411" not in html
    entry = AuditEntry.objects.get(action=Action.STORE_SUSPENDED)
    assert entry.detail["note"] == "Chargeback fraud suspected"  # kept for staff, in the admin


def test_a_real_suspension_and_reactivation_never_show_the_note(owner: Persona) -> None:
    """Through the services as support runs them: the note is in the suspension's detail and, as
    the note the reactivation cleared, in the reactivation's; the merchant reads neither."""
    store_suspend(store=owner.store, note="Chargeback fraud suspected", message="Please call billing", actor=COMMAND)
    owner.store.refresh_from_db()
    store_reactivate(store=owner.store, reason="Invoice paid", actor=COMMAND)
    stored = [entry.detail for entry in AuditEntry.objects.filter(store=owner.store)]
    assert any("Chargeback" in str(detail) for detail in stored)  # staff still read it in the admin
    html = signed_in(owner, Membership.Role.VIEWER).get(audit_url(owner)).content.decode()
    assert "Invoice paid" in html
    assert "Chargeback" not in html


def test_before_and_after_of_each_shape(owner: Persona) -> None:
    key = owner.key
    api_key_revoke(key=key, actor=Actor.of_user(owner.user))
    row = audit_row(AuditEntry.objects.get(action=Action.API_KEY_REVOKED))
    assert (row.action_label, row.subject, row.target) == ("API key revoked", key.prefix, key.public_id)
    assert [(c.field, c.before, c.after) for c in row.changes] == [("", "active", "revoked")]

    old_name = owner.plan.name
    plan_update(plan=owner.plan, name="Gold", active=False, actor=SYSTEM)
    row = audit_row(AuditEntry.objects.get(action=Action.PLAN_UPDATED))
    assert {(c.field, c.before, c.after) for c in row.changes} == {
        ("Name", old_name, "Gold"),
        ("Active", "yes", "no"),
    }

    topup = audit_row(AuditEntry.objects.filter(action=Action.CREDITS_TOPPED_UP).get())
    facts = {c.field: c.after for c in topup.changes}
    assert facts["Credits"] == "100"
    assert facts["Price per credit"] == "$0.05"  # one price format on every page
    assert all(c.before is None for c in topup.changes)

    audit_record(
        store_id=owner.store.pk,
        action=Action.MEMBER_ROLE_CHANGED,
        target="dev@example.com",
        actor=SYSTEM,
        detail={"before": {"role": "viewer"}, "after": {"role": "developer"}},
    )
    row = audit_row(AuditEntry.objects.get(action=Action.MEMBER_ROLE_CHANGED))
    assert [(c.field, c.before, c.after) for c in row.changes] == [("Role", "viewer", "developer")]


def test_filter_by_kind_of_change(owner: Persona) -> None:
    plan_update(plan=owner.plan, monthly_try_ons=20, actor=SYSTEM)
    response = signed_in(owner).get(audit_url(owner, action="plan.updated"))
    assert [row.action for row in response.context["rows"]] == ["plan.updated"]
    assert AuditEntry.objects.filter(store=owner.store).exclude(action="plan.updated").exists()
    empty = signed_in(owner).get(audit_url(owner, action="member.removed"))
    assert empty.context["rows"] == []
    assert "No changes of this kind" in empty.content.decode()


def test_an_unknown_kind_is_a_clear_400_listing_everything(owner: Persona) -> None:
    response = signed_in(owner).get(audit_url(owner, action="drop-tables"))
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert len(response.context["rows"]) == AuditEntry.objects.filter(store=owner.store).count()


def test_newest_first_and_paginated(owner: Persona) -> None:
    for number in range(AUDIT_PER_PAGE + 2):
        plan_update(plan=Plan.objects.get(pk=owner.plan.pk), monthly_try_ons=number + 1, actor=SYSTEM)
    total = AuditEntry.objects.filter(store=owner.store).count()
    first = signed_in(owner).get(audit_url(owner))
    assert len(first.context["rows"]) == AUDIT_PER_PAGE
    newest = first.context["rows"][0]
    assert [(c.before, c.after) for c in newest.changes] == [(str(AUDIT_PER_PAGE + 1), str(AUDIT_PER_PAGE + 2))]
    assert "Page 1 of 2" in first.content.decode()
    second = signed_in(owner).get(audit_url(owner, page="2"))
    assert len(second.context["rows"]) == total - AUDIT_PER_PAGE
    assert second.context["rows"][-1].action == Action.CREDITS_TOPPED_UP  # the persona's first credits
    for page in ("0", "99", "x"):  # Paginator.get_page: a page out of range is the nearest one
        assert signed_in(owner).get(audit_url(owner, page=page)).status_code == 200


def test_a_viewer_cannot_post(owner: Persona) -> None:
    before = AuditEntry.objects.count()
    assert signed_in(owner, Membership.Role.VIEWER).post(audit_url(owner)).status_code == 403
    assert signed_in(owner).post(audit_url(owner)).status_code == 405  # a page to read, nothing to send
    assert AuditEntry.objects.count() == before


def entry_of(action: str, **lookup: Any) -> AuditEntry:
    return AuditEntry.objects.get(action=action, **lookup)


def test_a_key_made_in_the_portal_is_audited_without_its_plaintext(owner: Persona) -> None:
    """Issue 13: creating a key (with its label and domains) wrote no audit entry."""
    client = signed_in(owner)
    form = {"kind": "publishable", "label": "Storefront", "allowed_domains": "shop.example.com"}
    response = client.post(reverse("portal-key-create", args=[owner.store.public_id]), form)
    assert response.status_code == 302
    plaintext = client.session[NEW_KEY_SESSION]["plaintext"]
    key = owner.store.api_keys.get(label="Storefront")
    entry = entry_of(Action.API_KEY_CREATED, target=key.public_id)
    assert (entry.actor, entry.actor_user) == (owner.user.email, owner.user)
    assert entry.detail == {
        "key": key.prefix,
        "kind": "publishable",
        "label": "Storefront",
        "allowed_domains": ["shop.example.com"],
    }
    assert plaintext not in str(entry.detail)
    row = audit_row(entry)
    assert (row.action_label, row.subject) == ("API key created", key.prefix)
    assert "shop.example.com" in client.get(audit_url(owner)).content.decode()


def test_a_key_made_by_a_command_names_the_operating_system_user(owner: Persona) -> None:
    call_command("create_api_key", owner.store.public_id, "--label", "Ops", stdout=StringIO())
    key = owner.store.api_keys.get(label="Ops")
    assert entry_of(Action.API_KEY_CREATED, target=key.public_id).actor == COMMAND.label


def test_customers_created_and_changed_through_the_api_are_audited(api: V1, owner: Persona) -> None:
    """Issue 13: a customer's creation and email or metadata changes wrote no audit entry."""
    created = api.post("/customers", {"externalId": "cust-9", "planId": owner.plan.public_id}).json()
    entry = entry_of(Action.CUSTOMER_CREATED, target=created["id"])
    assert entry.actor == f"api:{owner.secret[:12]}"
    assert entry.detail == {"external_id": "cust-9", "plan": owner.plan.public_id}

    api.patch(f"/customers/{created['id']}", {"email": "new@example.com", "metadata": {"tier": "gold"}})
    entry = entry_of(Action.CUSTOMER_UPDATED, target=created["id"])
    assert entry.detail == {
        "external_id": "cust-9",
        "email": ["", "new@example.com"],
        "metadata": [{}, {"tier": "gold"}],
    }
    changes = {(c.field, c.before, c.after) for c in audit_row(entry).changes}
    assert changes == {("Email", "—", "new@example.com"), ("Metadata", "—", "Tier: gold")}

    api.patch(f"/customers/{created['id']}", {"email": "new@example.com"})  # no change: no entry
    assert AuditEntry.objects.filter(action=Action.CUSTOMER_UPDATED).count() == 1


def test_store_settings_read_as_before_and_after(owner: Persona) -> None:
    old_name = owner.store.name
    store_update(store=owner.store, name="Renamed Shop", actor=COMMAND)
    row = audit_row(entry_of(Action.STORE_UPDATED))
    assert [(c.field, c.before, c.after) for c in row.changes] == [("Name", old_name, "Renamed Shop")]
