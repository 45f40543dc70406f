"""Every page under its Content-Security-Policy in Debian's chromium: the portal (every page of the
three portal_urls modules), sign-in, the admin's store list, store page and top-up form, the API
docs and the demo storefront with a try-on through the widget. Nothing may be refused: not a
script, a style, an image or a request."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, reverse
from playwright.sync_api import expect

import quotas.portal_urls
import stores.portal_urls
import tryon.portal_urls
from conftest import Persona
from stores.models import Store, WebhookDelivery, WebhookEndpoint
from stores.tests.receiver import receiving
from tryon.demo import demo_seed
from tryon.models import TryOnEvent
from tryon.tests.factories import TryOnEventFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
SAMPLE = Path(__file__).resolve().parents[2] / "tryon" / "static" / "tryon" / "demo" / "sample-shopper.jpg"
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""
# Portal routes that are not a page of their own: a file download.
NOT_PAGES = {"portal-events-csv", "portal-analytics-csv"}
# Form posts that answer with a redirect to a page walked here (their own tests cover them).
POSTS_ONLY = {"portal-customer-plan", "portal-team-invite", "portal-team-role", "portal-team-remove"}


class Watch:
    """What the browser refused, page by page: the pages' own violation events, and chromium's
    console, which also reports refusals on pages the test has already left."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.violations: list[str] = []
        self.console: list[str] = []
        self.visited: set[str] = set()
        page.add_init_script(LISTEN)
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:  # chromium: "Refused to … because it violates …"
            self.console.append(f"{self.page.url}: {message.text}")

    def collect(self) -> None:
        self.violations += [f"{self.page.url}: {v}" for v in self.page.evaluate("window.__csp || []")]

    def visit(self, path: str, name: str = "") -> None:
        self.collect()
        response = self.page.goto(path)
        assert response is not None, path
        assert response.status == 200, path
        assert "content-security-policy" in response.all_headers(), path
        self.page.wait_for_load_state("load")
        self.visited.add(name)


@pytest.fixture
def watch(page: Any) -> Iterator[Watch]:
    watched = Watch(page)
    yield watched
    watched.collect()
    assert watched.violations == []
    assert watched.console == []


def portal_route_names() -> set[str]:
    modules = [stores.portal_urls, tryon.portal_urls, quotas.portal_urls]
    return {p.name for m in modules for p in m.urlpatterns if isinstance(p, URLPattern) and p.name}


def seed_figures(owner: Persona) -> None:
    """Something in every bar: debited try-ons of two products, a blocked one, a shopper's usage."""
    for title in ["Linen shirt", "Linen shirt", "Wool coat"]:
        TryOnEventFactory(api_key=owner.key, product_title=title, end_customer=owner.customer)
    TryOnEventFactory(api_key=owner.key, outcome=TryOnEvent.Outcome.END_CUSTOMER_QUOTA)


def sign_in_to_portal(page: Any, owner: Persona) -> None:
    page.get_by_label("Email").fill(owner.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/portal/{owner.store.public_id}/")


def test_the_portal_runs_under_the_strict_policy(page: Any, watch: Watch, owner: Persona) -> None:
    seed_figures(owner)
    store = owner.store.public_id
    watch.visit("/accounts/login/")
    sign_in_to_portal(page, owner)
    for name in [
        "portal-overview",
        "portal-events",
        "portal-products",
        "portal-customers",
        "portal-analytics",
        "portal-credits",  # last: its meter is checked below
    ]:
        watch.visit(reverse(name, args=[store]), name)
    bar = page.locator(".meter__fill rect").bounding_box()  # the credits meter, an SVG rect: drawn
    assert bar is not None
    assert bar["width"] > 100

    watch.visit(reverse("portal-plans", args=[store]), "portal-plans")
    page.get_by_role("link", name=f"Disable {owner.plan.name}").click()  # the confirmation page
    page.get_by_role("button", name="Disable plan").click()
    page.get_by_role("button", name=f"Enable {owner.plan.name}").click()
    watch.visited |= {"portal-plan-disable", "portal-plan-enable"}
    watch.visit(reverse("portal-plan-edit", args=[store, owner.plan.public_id]), "portal-plan-edit")

    watch.visit(reverse("portal-keys", args=[store]), "portal-keys")
    page.get_by_label("Label").fill("CSP test")
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("button", name="Copy").click()  # portal.js, a static file
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    watch.visited.add("portal-key-create")
    watch.visit(reverse("portal-key-revoke", args=[store, owner.key.public_id]), "portal-key-revoke")

    customer = owner.customer.public_id
    watch.visit(reverse("portal-customer", args=[store, customer]), "portal-customer")
    page.get_by_role("button", name="Pause").first.click()
    expect(page.get_by_role("button", name="Resume").first).to_be_visible()
    page.get_by_role("button", name="Resume").first.click()
    watch.visited |= {"portal-customer-pause", "portal-customer-resume"}
    watch.visit(reverse("portal-customer-reset", args=[store, customer]), "portal-customer-reset")
    watch.visit(reverse("portal-team", args=[store]), "portal-team")
    watch.visit(reverse("portal-audit", args=[store]) + "?action=plan.updated", "portal-audit")

    assert portal_route_names() - NOT_PAGES - POSTS_ONLY - webhook_route_names() - integration_route_names() == (
        watch.visited - {""}
    )


def webhook_route_names() -> set[str]:
    return {name for name in portal_route_names() if name.startswith("portal-webhook")}


def integration_route_names() -> set[str]:
    return {name for name in portal_route_names() if name.startswith("portal-integration")}


def test_the_integration_pages_run_under_the_strict_policy(page: Any, watch: Watch, owner: Persona) -> None:
    """The designer's preview script (a static file, sizing through the CSSOM), the copy buttons,
    a saved design, and a test try-on whose result is a data: image."""
    store = owner.store.public_id
    watch.visit("/accounts/login/")
    sign_in_to_portal(page, owner)
    watch.visit(reverse("portal-integration", args=[store]), "portal-integration")
    page.get_by_label("Label").fill("Essayer")
    page.get_by_label("Corner radius (px)").fill("24")
    expect(page.locator(".design-preview__inline [data-preview-label]")).to_have_text("Essayer")
    page.get_by_role("button", name="Save design").click()
    expect(page.locator(".messages")).to_contain_text("Button design saved")
    page.locator("[data-copy='#snippet-guest']").click()
    expect(page.locator("[data-copy='#snippet-guest']")).to_have_text("Copied")
    page.get_by_role("link", name="Send a test try-on…").click()
    page.wait_for_url("**/integration/test?key=*")
    watch.visited.add("portal-integration-test")
    page.get_by_role("button", name="Send test try-on (uses 1 credit)").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("It works")
    assert page.locator(".test-result__image").evaluate("img => img.complete && img.naturalWidth > 0")

    assert integration_route_names() == watch.visited - {""}


def test_the_webhook_pages_run_under_the_strict_policy(page: Any, watch: Watch, owner: Persona, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1
    store = owner.store.public_id
    watch.visit("/accounts/login/")
    sign_in_to_portal(page, owner)
    with receiving() as receiver:
        watch.visit(reverse("portal-webhooks", args=[store]), "portal-webhooks")
        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_role("button", name="Add endpoint").click()
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        page.get_by_role("button", name="Send test ping").click()
        expect(page.locator(".messages")).to_contain_text("Test ping delivered")
        watch.visited |= {"portal-webhook-create", "portal-webhook", "portal-webhook-test"}
    endpoint = WebhookEndpoint.objects.get(store=owner.store)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    delivery.status = WebhookDelivery.Status.DEAD
    delivery.save(update_fields=["status"])
    ids = [store, endpoint.public_id]
    watch.visit(reverse("portal-webhook-delivery", args=[*ids, delivery.public_id]), "portal-webhook-delivery")
    page.get_by_role("button", name="Resend delivery").click()
    expect(page.locator(".messages")).to_contain_text("Delivery queued again")
    watch.visit(reverse("portal-webhook", args=ids))
    page.get_by_role("button", name="Disable").click()
    page.get_by_role("button", name="Enable").click()
    watch.visited |= {"portal-webhook-delivery-resend", "portal-webhook-disable", "portal-webhook-enable"}
    watch.visit(reverse("portal-webhook-edit", args=ids), "portal-webhook-edit")
    watch.visit(reverse("portal-webhook-rotate", args=ids), "portal-webhook-rotate")
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_test_id("new-secret")).to_be_visible()
    watch.visit(reverse("portal-webhook-delete", args=ids), "portal-webhook-delete")
    page.get_by_role("button", name="Delete endpoint").click()
    expect(page.locator(".messages")).to_contain_text("deleted")

    assert webhook_route_names() == watch.visited - {""}


def test_the_admin_runs_under_the_strict_policy(page: Any, watch: Watch, owner: Persona) -> None:
    get_user_model().objects.create_superuser("support@genvoris.example", "support@genvoris.example", PASSWORD)
    watch.visit("/admin/login/")
    page.fill("#id_username", "support@genvoris.example")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name >> text=Genvoris support")
    watch.visit(reverse("admin:stores_store_changelist"))
    assert page.locator("#result_list tbody tr").count() == Store.objects.count()
    watch.visit(reverse("admin:stores_store_change", args=[owner.store.pk]))
    page.click("button:has-text('Top up credits')")
    page.wait_for_selector("input[name=credits]")
    page.click("a.cancel-link")  # admin/js/cancel.js: back to the store's page
    page.wait_for_url(f"**/admin/stores/store/{owner.store.pk}/change/")


def test_the_api_docs_run_their_nonced_script(page: Any, watch: Watch) -> None:
    watch.visit("/api/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert page.locator(".opblock").count() >= 15
    page.locator(".opblock-summary").first.click()  # expanding an operation draws its schema
    page.wait_for_selector(".opblock-body")


def test_the_demo_storefront_and_a_try_on(page: Any, watch: Watch, live_server: Any, settings: Any) -> None:
    settings.TRYON_TRACK_URL = f"{live_server.url}/api/tryon/track"
    demo_seed()
    watch.visit("/demo/")
    watch.visit("/demo/linen-shirt/")
    page.click(".genvoris-tryon-btn")
    expect(page.locator("genvoris-tryon dialog")).to_be_visible()
    assert page.locator("genvoris-tryon button.pr").first.evaluate("b => getComputedStyle(b).borderRadius") == "999px"
    page.locator("genvoris-tryon input.in").first.set_input_files(str(SAMPLE))
    expect(page.locator("genvoris-tryon img.pv")).to_be_visible()  # the photo, as a blob: URL
    page.locator('genvoris-tryon [data-a="go"]').click()
    expect(page.locator("genvoris-tryon img.res")).to_be_visible()  # the result, as a data: URL
    expect(page.locator("#shopper-used")).to_have_text("1")  # the page's own script fetched its figures


def wait_until(page: Any, expression: str, timeout_s: float = 10) -> None:
    """Evaluate `expression` (over the DevTools protocol, outside the page's CSP) until true."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        page.wait_for_timeout(50)


def test_the_widget_is_why_the_demo_has_its_own_policy(page: Any, settings: Any) -> None:
    """Under the portal's policy the widget's stylesheet (a <style> in its shadow root) and the
    shopper's photo (a blob: URL) are refused; and this is how the tests above would see it."""
    settings.CONTENT_SECURITY_POLICY_BY_PATH = {}
    demo_seed()
    watch = Watch(page)
    watch.visit("/demo/linen-shirt/")
    page.click(".genvoris-tryon-btn")
    page.locator("genvoris-tryon input.in").first.set_input_files(str(SAMPLE))
    # Polled from here: wait_for_function compiles its predicate in the page, which this very
    # policy forbids (no 'unsafe-eval') whenever the first check comes too early.
    wait_until(page, "window.__csp.some((v) => v.startsWith('img-src'))")
    watch.collect()
    assert {v.split(": ", 1)[1] for v in watch.violations} == {"style-src-elem inline", "img-src blob"}
    assert watch.console
