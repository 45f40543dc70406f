"""The plan-disable confirmation and the audit trail in a real browser: disable a plan through its
confirmation page, then find the change, its author and its before → after in the audit trail.

Screenshots go to a temporary folder, or to docs/screenshots/ with UPDATE_SCREENSHOTS=1.
"""

from typing import Any

import pytest

from conftest import Persona, make_member, screenshot
from quotas.models import Plan
from stores.models import AuditEntry, Membership
from stores.services import COMMAND, audit_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # stores.tests.factories.UserFactory's


def sign_in(page: Any, username: str, store_id: str) -> None:
    page.goto("/portal/")
    page.get_by_label("Email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/portal/{store_id}/")


def test_disable_a_plan_after_confirming_then_read_it_in_the_audit_trail(page: Any, owner: Persona) -> None:
    store = owner.store.public_id
    sign_in(page, owner.user.username, store)
    page.get_by_role("link", name="Plans", exact=True).click()
    page.get_by_role("link", name=f"Disable {owner.plan.name}").click()
    page.wait_for_url(f"**/plans/{owner.plan.public_id}/disable")
    assert page.get_by_role("heading", level=1).inner_text() == f"Disable “{owner.plan.name}”?"
    assert page.get_by_test_id("plan-customers").inner_text() == "1"
    screenshot(page, "portal-plan-disable")
    assert Plan.objects.get(pk=owner.plan.pk).active  # asking changed nothing

    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"**/portal/{store}/plans")
    assert Plan.objects.get(pk=owner.plan.pk).active
    page.get_by_role("link", name=f"Disable {owner.plan.name}").click()
    page.get_by_role("button", name="Disable plan").click()
    page.wait_for_url(f"**/portal/{store}/plans")
    assert "disabled" in page.locator(".messages").inner_text()
    assert not Plan.objects.get(pk=owner.plan.pk).active

    page.get_by_role("link", name="Audit trail").click()
    page.wait_for_url(f"**/portal/{store}/audit")
    page.get_by_label("Kind of change").select_option("plan.updated")
    page.get_by_role("button", name="Apply filter").click()
    page.wait_for_url("**/audit?action=plan.updated")
    row = page.locator('[data-testid="audit"] tbody tr')
    assert row.count() == 1
    text = row.first.inner_text()
    assert owner.user.email in text
    assert "Plan changed" in text
    assert "Active: yes → no" in text
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PLAN_UPDATED)
    assert (entry.actor_user_id, entry.detail) == (owner.user.pk, {"active": [True, False]})


def test_a_viewer_reads_the_trail_without_what_support_keeps(page: Any, owner: Persona) -> None:
    viewer = make_member(owner.store, "viewer", Membership.Role.VIEWER)
    audit_record(
        store_id=owner.store.pk,
        action=AuditEntry.Action.STORE_SUSPENDED,
        target=owner.store.public_id,
        actor=COMMAND,
        detail={"reason": "Invoice 2026-11 unpaid", "internal_note": "Third reminder, call before reactivating"},
    )
    sign_in(page, viewer.username, owner.store.public_id)
    page.get_by_role("link", name="Audit trail").click()
    table = page.get_by_test_id("audit")
    assert "Invoice 2026-11 unpaid" in table.inner_text()
    assert "Genvoris support" in table.inner_text()
    assert "Third reminder" not in page.content()
    assert (
        page.locator('[data-testid="audit"] tbody tr').count() == AuditEntry.objects.filter(store=owner.store).count()
    )
    screenshot(page, "portal-audit")
