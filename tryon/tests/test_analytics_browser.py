"""The Analytics page in a real browser: the figures a merchant reads, the chart, the CSV, a screenshot."""

import csv
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from conftest import Persona, screenshot
from tryon.models import Conversion, TryOnEvent, WidgetEvent
from tryon.tests.factories import TryOnEventFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
PRODUCTS = [
    ("sku-101", "Linen overshirt — sand"),
    ("sku-102", "Merino crew sweater"),
    ("sku-103", "Relaxed denim jacket"),
]
STEPS = ["WIDGET_OPENED", "PHOTO_UPLOADED", "TRYON_GENERATED", "TRYON_VIEWED", "ADDED_TO_CART"]


def seed_visits(persona: Persona) -> None:
    """Three weeks of visits: each goes some way down the funnel; some try on and some buy."""
    rng = random.Random(11)
    now = timezone.now()
    events, tryons, orders = [], [], []
    for days_ago in range(20, -1, -1):
        for n in range(rng.randint(8, 16)):
            session = f"gv_{days_ago}_{n}"
            product, title = rng.choice(PRODUCTS)
            at = min(now - timedelta(days=days_ago, seconds=rng.randint(0, 80_000)), now - timedelta(minutes=30))
            depth = rng.choice([1, 1, 2, 3, 4, 5])
            for step, event_type in enumerate(STEPS[:depth]):
                events.append(WidgetEvent(store=persona.store, session_id=session, event_type=event_type,
                                          product_id=product, product_title=title,
                                          created_at=at + timedelta(seconds=step)))  # fmt: skip
            tried = depth >= 3
            if tried:
                tryons.append(TryOnEventFactory.build(api_key=persona.key, widget_session_id=session,
                                                      created_at=at + timedelta(seconds=2), product_title=title))  # fmt: skip
            if depth == 5 or rng.random() < 0.08:
                orders.append(Conversion(store=persona.store, platform="shopify", order_id=session,
                                         amount_cents=rng.randint(3000, 15000), currency="EUR", session_id=session,
                                         attribution="hard" if tried else "none", product_id=product,
                                         product_title=title, created_at=at + timedelta(minutes=5)))  # fmt: skip
    WidgetEvent.objects.bulk_create(events)
    TryOnEvent.objects.bulk_create(tryons)
    Conversion.objects.bulk_create(orders)
    call_command("rollup_usage")


def test_analytics_page(page: Any, owner: Persona, tmp_path: Path) -> None:
    store = owner.store.public_id
    page.goto(f"/portal/{store}/analytics")
    page.get_by_label("Email").fill(owner.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/portal/{store}/analytics")
    # A new store: the empty state says how to fill the page and links to the Integration page.
    assert page.get_by_test_id("analytics-empty").is_visible()
    screenshot(page, "portal-analytics-empty")
    page.get_by_test_id("integration-link").click()
    page.wait_for_url(f"**/portal/{store}/integration")

    seed_visits(owner)
    page.get_by_role("link", name="Analytics", exact=True).click()
    page.wait_for_url(f"**/portal/{store}/analytics")
    firsts: dict[str, Any] = {}
    for session, created in WidgetEvent.objects.filter(store=owner.store).values_list("session_id", "created_at"):
        firsts[session] = min(created, firsts.get(session, created))
    first_days = {moment.date() for moment in firsts.values()}
    first_day = min(first_days)
    assert page.inner_text('[data-step="opened"]').strip() == f"{len(firsts):,}"  # every session opened
    assert page.locator("svg.chart rect.chart__seg--sessions").count() == len(first_days)
    assert page.get_by_test_id("products").locator("tbody tr").count() == len(PRODUCTS)
    assert page.locator('[data-currency="EUR"]').is_visible()
    screenshot(page, "portal-analytics")

    # A narrower range, then its CSV.
    page.get_by_label("From", exact=True).fill(first_day.isoformat())
    page.get_by_label("To", exact=True).fill((first_day + timedelta(days=6)).isoformat())
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**date_from=**")
    assert page.locator("svg.chart rect.chart__hit").count() == 7
    with page.expect_download() as download_info:
        page.get_by_test_id("export-csv").click()
    target = tmp_path / "analytics.csv"
    download_info.value.save_as(target)
    rows = list(csv.DictReader(target.open()))
    assert [r["day"] for r in rows] == [(first_day + timedelta(days=n)).isoformat() for n in range(7)]
    assert sum(int(r["opened"]) for r in rows) > 0
