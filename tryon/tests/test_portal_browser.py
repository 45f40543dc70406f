"""The merchant portal in a real browser: sign in, read the figures, keys, CSV, a live try-on.

Saves a screenshot of every page under docs/screenshots/ for readers of the repository.
"""

import csv
import json
import random
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from conftest import INTERNAL_SECRET, Persona, screenshot
from quotas.models import UsagePeriod
from quotas.tests.factories import EndCustomerFactory, PlanFactory
from stores.models import Store
from stores.services import COMMAND, credit_topup
from tryon.models import TryOnEvent
from tryon.tests.factories import TryOnEventFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
PRODUCTS = [
    ("apparel", "Linen overshirt — sand"),
    ("apparel", "Merino crew sweater"),
    ("apparel", "Relaxed denim jacket"),
    ("apparel", "Pleated midi skirt"),
    ("home", "Oak lounge chair"),
    ("home", "Wool throw blanket"),
    ("object", "Round acetate sunglasses"),
    ("other", "Leather tote bag"),
]


def seed_showcase(persona: Persona) -> None:
    """A month of plausible traffic, so the screenshots show the product as merchants see it."""
    rng = random.Random(7)
    credit_topup(store=persona.store, credits=5000, actor=COMMAND, note="Growth pack")
    Store.objects.filter(pk=persona.store.pk).update(low_balance_threshold=500)
    now = timezone.now()
    events = []
    for days_ago in range(34, -1, -1):
        for _ in range(rng.randint(30, 70) + (34 - days_ago) * 2):
            product_type, title = rng.choices(PRODUCTS, weights=[9, 7, 6, 4, 3, 3, 2, 1])[0]
            roll = rng.random()
            outcome = (
                TryOnEvent.Outcome.DEBITED
                if roll < 0.9
                else TryOnEvent.Outcome.FAILED
                if roll < 0.95
                else TryOnEvent.Outcome.END_CUSTOMER_QUOTA
                if roll < 0.98
                else TryOnEvent.Outcome.CREDIT_LIMIT_REACHED
            )
            at = now - timedelta(days=days_ago, seconds=rng.randint(0, 86_000))
            events.append(
                TryOnEventFactory.build(
                    api_key=persona.key,
                    outcome=outcome,
                    reason=rng.choice(["quota_exhausted", "quota_exhausted", "paused", "no_plan"])
                    if outcome == TryOnEvent.Outcome.END_CUSTOMER_QUOTA
                    else "",
                    product_type=product_type,
                    product_title=title,
                    generation_time_ms=int(rng.gauss(4200, 900)),
                    variation_count=rng.choice([1, 1, 2, 4]),
                    created_at=min(at, now),
                    end_customer=persona.customer if rng.random() < 0.3 else None,
                )
            )
    TryOnEvent.objects.bulk_create(events, batch_size=1000)
    pro = PlanFactory(store=persona.store, name="Pro", monthly_try_ons=100, external_price_id="price_pro_monthly")
    for n, used in enumerate([12, 87, 100, 45, 3]):
        customer = EndCustomerFactory(store=persona.store, plan=pro, external_id=f"cus_{1040 + n}")
        UsagePeriod.objects.filter(customer=customer).update(used=used)
    UsagePeriod.objects.filter(customer=persona.customer).update(used=6)
    call_command("rollup_usage")


def db_figures(persona: Persona) -> dict[str, str]:
    midnight = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    debited = TryOnEvent.objects.filter(store=persona.store, debited=True)
    persona.refresh()
    return {
        "today": f"{debited.filter(created_at__gte=midnight).count():,}",
        "month": f"{debited.filter(created_at__gte=midnight.replace(day=1)).count():,}",
        "balance": f"{persona.store.credit_balance:,}",
    }


def shown(page: Any, testid: str) -> str:
    return str(page.inner_text(f'[data-testid="{testid}"]')).strip()


def test_merchant_portal_end_to_end(page: Any, owner: Persona, tmp_path: Path) -> None:
    seed_showcase(owner)
    store = owner.store.public_id

    page.goto("/portal/")
    assert "/accounts/login/" in page.url
    screenshot(page, "portal-login")
    page.get_by_label("Email").fill(owner.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/portal/{store}/")

    expected = db_figures(owner)
    assert {k: shown(page, k) for k in expected} == expected
    assert page.locator("svg.chart rect.chart__seg").count() > 30
    screenshot(page, "portal-overview")

    # A try-on tracked through the API appears on the overview after a reload.
    response = page.request.post(
        "/api/tryon/track",
        headers={"x-internal-secret": INTERNAL_SECRET, "content-type": "application/json"},
        data=json.dumps({"api_key": owner.secret, "product_title": "Merino crew sweater", "generation_time_ms": 3900}),
    )
    assert response.status == 200, response.text()
    page.reload()
    after = db_figures(owner)
    assert int(after["today"].replace(",", "")) == int(expected["today"].replace(",", "")) + 1
    assert {k: shown(page, k) for k in after} == after

    # Events: filter, then export what the filter shows.
    page.get_by_role("link", name="Events", exact=True).click()
    page.wait_for_url(f"**/portal/{store}/events")
    screenshot(page, "portal-events")
    page.get_by_label("Outcome").select_option("failed")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**outcome=failed**")
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    target = tmp_path / "events.csv"
    download_info.value.save_as(target)
    rows = list(csv.DictReader(target.open()))
    failed = TryOnEvent.objects.filter(store=owner.store, outcome="failed")
    assert len(rows) == failed.count() > 0
    assert {r["outcome"] for r in rows} == {"failed"}
    assert rows[0]["id"] == failed.order_by("-created_at", "-id").first().public_id  # type: ignore[union-attr]

    for name, slug in [
        ("Products", "products"),
        ("Customers", "customers"),
        ("Plans", "plans"),
        ("Credits", "credits"),
    ]:
        page.get_by_role("link", name=name, exact=True).click()
        page.wait_for_url(f"**/portal/{store}/{slug}")
        screenshot(page, f"portal-{slug}")

    # API keys: create one, see it once, reload, it is gone; then revoke it.
    page.get_by_role("link", name="API keys", exact=True).click()
    page.get_by_label("Label").fill("Try-on backend")
    page.get_by_label("Allowed domains").fill("shop.example.com\n*.example.com")
    page.get_by_role("button", name="Create key").click()
    plaintext = page.get_by_label("New API key").input_value()
    assert plaintext.startswith("gvk_live_")
    screenshot(page, "portal-keys-created")
    page.reload()
    assert page.get_by_test_id("new-key").count() == 0
    assert plaintext not in page.content()
    screenshot(page, "portal-keys")
    row = page.locator("tr", has_text="Try-on backend")
    row.get_by_role("link", name="Revoke").click()
    screenshot(page, "portal-key-revoke")
    page.get_by_role("button", name="Revoke key").click()
    assert "revoked" in page.inner_text(".messages")
    assert page.locator("tr", has_text="Try-on backend").get_by_text("Revoked").count() == 1
    rejected = page.request.post(
        "/api/tryon/track",
        headers={"x-internal-secret": INTERNAL_SECRET, "content-type": "application/json"},
        data=json.dumps({"api_key": plaintext}),
    )
    assert rejected.status == 401

    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Overview", exact=True).click()
    screenshot(page, "portal-overview-mobile")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")


def test_outsider_sees_404_in_the_browser(page: Any, owner: Persona, outsider: Persona) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(outsider.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/portal/{outsider.store.public_id}/")
    response = page.goto(f"/portal/{owner.store.public_id}/")
    assert response.status == 404
    assert "Page not found" in page.content()
