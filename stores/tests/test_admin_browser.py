"""Support staff in a real browser: sign in to the console, suspend a store with an internal note
and a message to the merchant (whose portal then shows the message only), top up and adjust
another through the intermediate forms, and read it all in the audit trail.

Saves admin-stores.png, admin-suspend.png, portal-suspended.png, admin-topup.png, admin-adjust.png,
admin-store.png and admin-audit.png under docs/screenshots/ (only with UPDATE_SCREENSHOTS=1).
"""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from conftest import screenshot
from stores.models import AuditEntry, CreditLedgerEntry, CreditPack, Store
from stores.services import COMMAND, SYSTEM, api_key_create, credit_topup, store_create, store_suspend
from tryon.models import TryOnEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STAFF = "support@genvoris.example"
PASSWORD = "correct horse battery staple"
NOTE = "Chargebacks on three orders; risk team reviewing"
MESSAGE = "Your account is under review. Please reply to our email of 7 December."
STORES = [
    # name, owner, credits, hours since the last try-on (None: never)
    ("Northwind Apparel", "ops@northwind.example", 4820, 0.2),
    ("Lumen Home", "hello@lumenhome.example", 60, 5),
    ("Atelier Rue", "studio@atelierrue.example", 1250, 30),
    ("Kite & Kin Outdoor", "team@kiteandkin.example", 0, None),
]


def seed_stores() -> dict[str, Store]:
    now = timezone.now()
    stores = {}
    for name, email, credits, hours in STORES:
        store = store_create(name=name, owner_email=email, password=PASSWORD)
        if credits:
            credit_topup(store=store, credits=credits, actor=COMMAND, price_per_credit=Decimal("0.05"))
        key, _ = api_key_create(store=store, label="Production")
        if hours is not None:
            TryOnEvent.objects.create(
                store=store,
                api_key=key,
                product_title="Linen overshirt",
                outcome=TryOnEvent.Outcome.DEBITED,
                created_at=now - timedelta(hours=hours),
            )
        stores[name] = store
    store_suspend(store=stores["Kite & Kin Outdoor"], note="Card declined on renewal", actor=SYSTEM)
    return stores


def sign_in(page: Any) -> None:
    page.goto("/admin/")
    page.fill("#id_username", STAFF)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name >> text=Genvoris support")


def test_support_suspends_and_tops_up_through_the_admin(page: Any) -> None:
    staff = get_user_model().objects.create_superuser(STAFF, STAFF, PASSWORD)
    stores = seed_stores()
    lumen, atelier = stores["Lumen Home"], stores["Atelier Rue"]
    sign_in(page)

    page.goto("/admin/stores/store/")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == len(STORES)
    assert "Card declined" not in page.content()  # the reason is on the store's page, not the list
    screenshot(page, "admin-stores")

    # Suspend Atelier Rue from the list: choose the action, give a note and a message.
    page.check(f'input[name="_selected_action"][value="{atelier.pk}"]')
    page.select_option('select[name="action"]', "suspend_stores")
    page.click('button[name="index"]')
    page.wait_for_selector("textarea[name=note]")
    page.fill("textarea[name=note]", NOTE)
    page.fill("textarea[name=message]", MESSAGE)
    screenshot(page, "admin-suspend")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    atelier.refresh_from_db()
    assert atelier.status == Store.Status.SUSPENDED
    assert (atelier.suspended_note, atelier.suspended_message) == (NOTE, MESSAGE)

    # The merchant, signed in to their portal in another browser, reads the message, never the note.
    merchant = page.context.browser.new_context(base_url=page.url.split("/admin/")[0])
    portal = merchant.new_page()
    portal.goto("/accounts/login/")
    portal.get_by_label("Email").fill("studio@atelierrue.example")
    portal.get_by_label("Password").fill(PASSWORD)
    portal.get_by_role("button", name="Sign in").click()
    portal.wait_for_url(f"**/portal/{atelier.public_id}/")
    banner = portal.get_by_role("alert").filter(has_text="This store is suspended.")
    assert MESSAGE in banner.inner_text()
    assert "Chargebacks" not in portal.content()
    screenshot(portal, "portal-suspended", full_page=False)
    merchant.close()

    # Top up Lumen Home from its own page; a bad amount is refused first and nothing changes.
    page.goto(f"/admin/stores/store/{lumen.pk}/change/")
    page.click("button:has-text('Top up credits')")
    page.fill("input[name=credits]", "0")
    page.click("input[type=submit]")
    page.wait_for_selector(".field-credits .errorlist >> text=between 1 and 10,000,000")
    assert Store.objects.get(pk=lumen.pk).credit_balance == 60
    page.goto(f"/admin/stores/store/{lumen.pk}/change/")
    page.click("button:has-text('Top up credits')")
    page.fill("input[name=credits]", "2500")
    page.fill("input[name=price_per_credit]", "0.04")
    page.fill("input[name=valid_days]", "180")
    page.fill("textarea[name=note]", "Invoice INV-2041, paid by bank transfer")
    screenshot(page, "admin-topup")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    assert page.url.endswith(f"/admin/stores/store/{lumen.pk}/change/")
    assert Store.objects.get(pk=lumen.pk).credit_balance == 2560

    # Take credits back: more than the balance is refused on the form, then a correction applies.
    page.click("button:has-text('Adjust credits')")
    page.fill("input[name=delta]", "-3000")
    page.fill("textarea[name=reason]", "Duplicate invoice INV-2041")
    page.click("input[type=submit]")
    page.wait_for_selector(".field-delta .errorlist >> text=would take it below zero")
    assert Store.objects.get(pk=lumen.pk).credit_balance == 2560
    page.fill("input[name=delta]", "-500")
    screenshot(page, "admin-adjust")
    page.click("input[type=submit]")
    page.wait_for_selector(".messagelist .success >> text=balance 2,060")
    screenshot(page, "admin-store")
    assert Store.objects.get(pk=lumen.pk).credit_balance == 2060
    pack = CreditPack.objects.filter(store=lumen).latest("id")
    assert (pack.credits, pack.price_per_credit, pack.source) == (2500, Decimal("0.04"), CreditPack.Source.ADMIN)
    ledger = CreditLedgerEntry.objects.get(pack=pack)
    assert (ledger.actor, ledger.actor_user_id, ledger.balance_after) == (STAFF, staff.pk, 2560)

    page.goto("/admin/stores/auditentry/")
    page.wait_for_selector("#result_list")
    screenshot(page, "admin-audit")
    staff_entries = AuditEntry.objects.filter(actor_user=staff).order_by("id")
    assert [(e.action, e.store_id) for e in staff_entries] == [
        (AuditEntry.Action.STORE_SUSPENDED, atelier.pk),
        (AuditEntry.Action.CREDITS_TOPPED_UP, lumen.pk),
        (AuditEntry.Action.CREDITS_ADJUSTED, lumen.pk),
    ]
    assert staff_entries[2].detail == {
        "delta": -500,
        "before": 2560,
        "after": 2060,
        "reason": "Duplicate invoice INV-2041",
    }
    assert page.locator("#result_list tbody tr").count() == AuditEntry.objects.count()
