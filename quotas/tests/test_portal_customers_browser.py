"""A customer's detail page in a real browser: open it from the list, pause, see the status change."""

from typing import Any

import pytest

from conftest import Persona, screenshot
from quotas.models import EndCustomer
from stores.models import AuditEntry
from tryon.tests.factories import TryOnEventFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def test_open_a_customer_and_pause_it(page: Any, owner: Persona) -> None:
    owner.user.set_password(PASSWORD)
    owner.user.save(update_fields=["password"])
    TryOnEventFactory(api_key=owner.key, end_customer=owner.customer, product_title="Merino crew sweater")
    store = owner.store.public_id
    page.goto(f"/portal/{store}/customers")
    page.get_by_label("Email").fill(owner.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name=owner.customer.external_id).click()
    page.wait_for_url(f"**/customers/{owner.customer.public_id}")
    assert page.inner_text('[data-testid="customer-status"]').strip() == "Active"
    assert "Merino crew sweater" in page.inner_text('[data-testid="customer-events"]')
    screenshot(page, "portal-customer")

    page.get_by_role("button", name="Pause").click()
    page.wait_for_selector("text=owner-shopper paused")
    assert page.inner_text('[data-testid="customer-status"]').strip() == "Paused"
    assert page.get_by_role("button", name="Resume").is_visible()
    owner.customer.refresh_from_db()
    assert owner.customer.status == EndCustomer.Status.PAUSED
    assert AuditEntry.objects.get(action=AuditEntry.Action.CUSTOMER_STATUS_CHANGED).actor_user_id == owner.user.pk
