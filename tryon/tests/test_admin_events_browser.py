"""Support staff find a shopper's try-ons in a real browser: filter the events by store and
customer, read the outcomes (badges whole, not clipped), and open a blocked one, whose page says
it was refused and when, never "Success" (issue 13).

Saves admin-events.png and admin-event-blocked.png under docs/screenshots/ (UPDATE_SCREENSHOTS=1).
"""

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from conftest import Persona, Track, screenshot
from tryon.models import TryOnEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STAFF = "support@genvoris.example"
PASSWORD = "correct horse battery staple"


def test_support_finds_a_shoppers_blocked_try_on(page: Any, owner: Persona, outsider: Persona, track: Track) -> None:
    get_user_model().objects.create_superuser(STAFF, STAFF, PASSWORD)
    token = owner.token()
    track({"api_key": owner.secret, "product_title": "Wool coat", "end_customer_token": token})
    track({"api_key": owner.secret, "product_title": "Oak table", "success": False})
    track({"api_key": outsider.secret, "product_title": "Silk scarf"})
    owner.customer.status = "PAUSED"
    owner.customer.save(update_fields=["status"])
    track({"api_key": owner.secret, "product_title": "Linen shirt", "end_customer_token": token})
    blocked = TryOnEvent.objects.get(product_title="Linen shirt")
    assert blocked.outcome == TryOnEvent.Outcome.END_CUSTOMER_QUOTA

    page.goto("/admin/")
    page.fill("#id_username", STAFF)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto("/admin/tryon/tryonevent/")
    page.get_by_label("Store").fill(owner.store.public_id)
    page.get_by_label("Store").press("Enter")
    page.wait_for_url("**store=st_*")
    titles = page.locator("#result_list td.field-product_title").all_inner_texts()
    assert titles == ["Linen shirt", "Oak table", "Wool coat"]
    page.get_by_label("Customer").fill(owner.customer.external_id)
    page.get_by_label("Customer").press("Enter")
    page.wait_for_url("**customer=*")
    assert page.locator("#result_list td.field-product_title").all_inner_texts() == ["Linen shirt", "Wool coat"]
    assert f"store={owner.store.public_id}" in page.url  # the store filter was kept
    # Every badge is drawn whole: none wider than the room its cell gives it.
    clipped = page.evaluate(
        """() => [...document.querySelectorAll('#result_list .gv-badge')].filter(b => {
            const cell = b.closest('td').getBoundingClientRect(), box = b.getBoundingClientRect();
            return b.scrollWidth > b.clientWidth || box.right > cell.right || box.left < cell.left;
        }).map(b => b.textContent)"""
    )
    assert clipped == []
    labels = page.locator("#result_list .gv-badge").all_inner_texts()
    assert labels == ["Blocked: shopper's quota", "Charged"]
    screenshot(page, "admin-events", full_page=False)

    page.get_by_role("link", name=blocked.public_id).click()
    content = page.locator("#content-main").inner_text()
    assert "Success" not in content
    assert "Refused with 402 by the shopper's quota. Not shown, not charged." in content
    assert "Created at" in content
    assert "shopper paused" in content
    screenshot(page, "admin-event-blocked", full_page=False)
