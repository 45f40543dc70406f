"""The Integration page's live preview in Debian's chromium, under the portal's strict
Content-Security-Policy: every change to the form redraws the preview as the widget would draw
the button, with no console error and nothing refused; and the form works without JavaScript."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from conftest import Persona, screenshot
from stores.selectors import button_design_json, button_design_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
"""


@pytest.fixture
def problems(page: Any) -> Iterator[list[str]]:
    """Console errors and warnings, page errors and CSP violations; the test ends with none."""
    seen: list[str] = []
    page.add_init_script(LISTEN)
    page.on("console", lambda m: seen.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: seen.append(f"page error: {e}"))
    yield seen
    seen += [f"csp: {v}" for v in page.evaluate("window.__csp || []")]
    assert seen == []


def open_page(page: Any, owner: Persona) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(owner.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/portal/{owner.store.public_id}/")
    response = page.goto(reverse("portal-integration", args=[owner.store.public_id]))
    assert response is not None
    assert response.status == 200
    assert "script-src 'self'" in response.all_headers()["content-security-policy"]


def style(locator: Any, prop: str) -> str:
    return str(locator.evaluate(f"el => getComputedStyle(el).{prop}"))


def test_the_preview_follows_the_form(page: Any, problems: list[str], owner: Persona) -> None:
    open_page(page, owner)
    preview = page.locator("[data-design-preview]")
    inline = page.locator(".design-preview__inline [data-preview-button]")
    fab = page.locator(".design-preview__fab [data-preview-button]")
    expect(inline.locator("[data-preview-label]")).to_have_text("Try On")
    assert style(inline, "borderRadius") == "8px"
    assert inline.locator("svg[data-icon='sparkles']").is_visible()
    assert not fab.is_visible()

    page.get_by_label("Label").fill("Anprobieren")
    page.get_by_label("Corner radius (px)").fill("40")
    page.get_by_label("Text size (px)").fill("20")
    page.get_by_label("Padding left and right (px)").fill("30")
    page.get_by_label("Padding top and bottom (px)").fill("6")
    page.get_by_label("Magic wand").check()
    expect(inline.locator("[data-preview-label]")).to_have_text("Anprobieren")
    assert (style(inline, "borderRadius"), style(inline, "fontSize")) == ("40px", "20px")
    assert style(inline, "padding") == "6px 30px"
    assert inline.locator("svg[data-icon='wand']").is_visible()
    assert not inline.locator("svg[data-icon='sparkles']").is_visible()

    page.get_by_label("No icon").check()
    assert inline.locator("svg:visible").count() == 0

    page.get_by_label("Floating button, bottom left").check()
    expect(preview).to_have_attribute("data-position", "floating-left")
    expect(fab).to_be_visible()
    box, frame = fab.bounding_box(), page.locator(".design-preview__page").bounding_box()
    assert box["x"] - frame["x"] < 32  # in the left corner
    expect(page.locator("[data-note='floating-left']")).to_be_visible()
    page.get_by_label("Floating button, bottom right").check()
    box = fab.bounding_box()
    assert frame["x"] + frame["width"] - (box["x"] + box["width"]) < 32  # in the right corner

    expect(page.locator(".design-preview__cards")).to_be_hidden()
    page.get_by_label("Show on product cards").check()
    expect(page.locator(".design-preview__cards")).to_be_visible()
    assert page.locator(".design-preview__card [data-preview-label]").all_inner_texts() == ["Anprobieren"] * 2

    page.get_by_label("Text size (px)").fill("99")  # out of range: drawn as the widget would, the default
    assert style(inline, "fontSize") == "14px"
    page.get_by_label("Text size (px)").fill("20")
    screenshot(page, "portal-integration")

    page.get_by_role("button", name="Save design").click()
    expect(page.locator(".messages")).to_contain_text("Button design saved")
    assert button_design_json(button_design_of(owner.store)) == {
        "label": "Anprobieren",
        "icon": "none",
        "borderRadius": 40,
        "fontSize": 20,
        "paddingX": 30,
        "paddingY": 6,
        "position": "floating-right",
        "showOnCards": True,
    }
    # The saved design, drawn again from the page as served.
    assert style(page.locator(".design-preview__fab [data-preview-button]"), "borderRadius") == "40px"
    expect(page.locator("[data-design-preview]")).to_have_attribute("data-position", "floating-right")


def test_a_refused_value_is_marked_and_nothing_is_saved(page: Any, problems: list[str], owner: Persona) -> None:
    open_page(page, owner)
    page.get_by_label("Label").fill("   ")
    page.get_by_role("button", name="Save design").click()
    expect(page.locator(".field--error")).to_contain_text("Must be 1 to 20 characters.")
    assert button_design_json(button_design_of(owner.store))["label"] == "Try On"
    problems[:] = [p for p in problems if "400 (Bad Request)" not in p]  # the refused POST itself


def test_without_javascript_the_form_still_saves(browser: Any, live_server: Any, owner: Persona) -> None:
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        open_page(page, owner)
        expect(page.locator("[data-design-preview]")).to_be_visible()
        page.get_by_label("Label").fill("Sans JS")
        page.get_by_label("Floating button, bottom left").check()
        page.get_by_role("button", name="Save design").click()
        expect(page.locator(".messages")).to_contain_text("Button design saved")
        expect(page.locator(".design-preview__fab [data-preview-label]")).to_have_text("Sans JS")
        expect(page.locator(".design-preview__fab")).to_be_visible()  # drawn by the stylesheet alone
    finally:
        context.close()
    assert button_design_of(owner.store).position == "floating-left"
