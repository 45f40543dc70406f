"""The demo storefront in Debian's chromium (issue 11, item 5): each state shown as it is — a paused
shopper is paused, never quietly moved to legacy mode — and the status the widget sees, shown on
the page before and after a try-on.

The status shown is the reference backend's `POST /api/tryon/status`, built beside this; the tests
that need its real answers skip until it is there.
"""

from typing import Any

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from conftest import screenshot as page_screenshot
from quotas.models import EndCustomer
from stores.models import Store
from tryon.demo import Demo, demo_seed
from tryon.tests.test_widget_browser import MEMBER, dialog, part, screenshot, try_on

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(live_server: Any, settings: Any) -> Demo:
    settings.TRYON_TRACK_URL = ""
    return demo_seed()


@pytest.fixture
def real_status(page: Any, live_server: Any, demo: Demo) -> None:
    answer = page.request.post(f"{live_server.url}/api/tryon/status", form={"api_key": demo.publishable_key})
    if answer.status == 404:
        pytest.skip("waits for POST /api/tryon/status (issue 11, item 2), built beside the demo")
    cache.clear()  # the probe's answer is kept 10 s; the tests change the state after it


def credits(demo: Demo) -> int:
    return Store.objects.get(pk=demo.store.pk).credit_balance


@pytest.mark.usefixtures("real_status")
def test_real_status_before_and_after_a_try_on(page: Any, demo: Demo) -> None:
    page.goto(MEMBER)
    expect(page.locator("#status-access")).to_have_text("ALLOWED")
    expect(page.locator("#status-message")).to_contain_text("0 of 3 used")
    page_screenshot(page, "demo-status-before")
    page.click(".genvoris-tryon-btn")
    try_on(page)
    expect(part(page, "img.res")).to_be_visible()
    # Asked again at once, and once more after the 10 s the backend may keep an answer (SPEC §15).
    expect(page.locator("#status-message")).to_contain_text("1 of 3 used", timeout=15_000)


@pytest.mark.usefixtures("real_status")
def test_real_pausing_from_the_page_pauses_the_try_on(page: Any, demo: Demo) -> None:
    page.goto(MEMBER)
    before = credits(demo)
    page.click("text=Pause the shopper")
    # The form posts and redirects: reloading before that navigation ends would race it.
    expect(page.get_by_role("button", name="Resume the shopper")).to_be_visible()
    # The status of this (key, token) was answered a moment ago and may be kept 10 s (SPEC §15);
    # forgetting it stands in for the 10 s a shopper's next visit would come after.
    cache.clear()
    page.reload()
    expect(page.locator(".who.paused")).to_contain_text("whose plan is paused")
    expect(page.locator("#shopper-status")).to_have_text("paused")
    expect(page.locator("#status-access")).to_have_text("LOCKED")
    page.click(".genvoris-tryon-btn")
    expect(dialog(page)).to_be_visible()
    expect(part(page, ".msg")).to_have_text("Your try-on plan is paused.")
    expect(part(page, '[data-s="pick"]')).to_be_hidden()
    screenshot(page, "demo-paused-widget")
    assert credits(demo) == before
    page.keyboard.press("Escape")
    page.click("text=Resume the shopper")
    expect(page.locator("#status-access")).to_have_text("ALLOWED")


def test_a_paused_shopper_without_a_session_gets_no_try_on(page: Any, demo: Demo) -> None:
    EndCustomer.objects.filter(pk=demo.customer.pk).update(status=EndCustomer.Status.PAUSED)
    page.goto(MEMBER)
    expect(page.locator(".who.paused")).to_contain_text("offers no try-on")
    assert page.locator(".genvoris-tryon-btn").count() == 0
    assert page.evaluate("window.Genvoris") is None  # the widget is not even loaded
    expect(page.locator("#status")).to_be_hidden()
    page_screenshot(page, "demo-paused-no-session")
    page.click("text=Resume the shopper")
    expect(page.locator(".genvoris-tryon-btn")).to_be_visible()


def test_an_unreachable_status_is_said_and_the_try_on_still_works(page: Any, demo: Demo) -> None:
    page.route("**/api/tryon/status", lambda route: route.abort("connectionrefused"))
    page.goto(MEMBER)
    expect(page.locator("#status-access")).to_have_text("unreachable")
    before = credits(demo)
    page.click(".genvoris-tryon-btn")
    try_on(page)
    expect(part(page, "img.res")).to_be_visible()
    assert credits(demo) == before - 1


def test_the_landing_page(page: Any) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Genvoris", exact=True)).to_be_visible()
    for name in ("Demo storefront", "Merchant portal", "API reference", "Support console"):
        expect(page.get_by_role("link", name=name)).to_be_visible()
    page_screenshot(page, "landing")
    page.get_by_role("link", name="Demo storefront").click()
    expect(page).to_have_url(f"{page.url.split('/demo/')[0]}/demo/")


def test_try_on_add_to_bag_check_out_and_see_it_in_analytics(page: Any, demo: Demo) -> None:
    """Issue 12, item 5: the whole loop a new user runs after `make run`."""
    from tryon.models import Conversion, WidgetEvent

    page.goto("/demo/wrap-dress/")
    page.click(".genvoris-tryon-btn")
    try_on(page)
    expect(part(page, "img.res")).to_be_visible()
    sid = page.evaluate("window.Genvoris.sessionId")
    page.keyboard.press("Escape")
    expect(dialog(page)).to_be_hidden()
    page.get_by_role("button", name="Add to bag").click()
    page.wait_for_url("**/demo/bag/")
    expect(page.get_by_test_id("bag-total")).to_have_text("€89")
    page.get_by_role("button", name="Place the order (€89)").click()
    page.wait_for_url("**/demo/orders/*/")
    expect(page.get_by_test_id("attribution")).to_have_attribute("data-attribution", "hard")
    page_screenshot(page, "demo-order-attributed")
    conversion = Conversion.objects.get(store=demo.store)
    assert (conversion.session_id, conversion.attribution, conversion.amount_cents) == (sid, "hard", 8900)
    steps = set(WidgetEvent.objects.filter(store=demo.store, session_id=sid).values_list("event_type", flat=True))
    assert {"ADDED_TO_CART", "CHECKOUT_STARTED"} <= steps  # the widget's own arrive by beacon, later
    page.get_by_role("link", name="Analytics").click()
    page.get_by_label("Email").fill("demo@genvoris.test")
    page.get_by_label("Password").fill("demo-try-on-2026")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/portal/{demo.store.public_id}/analytics")
    expect(page.get_by_test_id("revenue").get_by_test_id("attributed")).to_have_text("89.00")
    page_screenshot(page, "demo-analytics-after-an-order")
