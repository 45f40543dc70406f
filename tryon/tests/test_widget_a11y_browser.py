"""Issue 15: the widget for every shopper. The busy state keeps focus, the dialog keeps its size
from step to step, it is built before the click, and every state passes axe (WCAG 2.1 A/AA)."""

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from genvoris.tests.test_a11y_browser import violations
from tryon.demo import Demo
from tryon.tests.test_widget_browser import GUEST, MEMBER, choose_photo, demo, dialog, fulfil, part, refusal

__all__ = ["demo"]  # the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED = """() => { const host = document.activeElement;
    if (host.tagName !== 'GENVORIS-TRYON') return null;
    const el = host.shadowRoot.activeElement;
    return el && { cls: el.className, busy: el.closest('[aria-busy]')?.getAttribute('aria-busy'),
                   outline: getComputedStyle(el).outlineStyle }; }"""
BOX = """() => { const r = document.querySelector('genvoris-tryon').shadowRoot.querySelector('dialog')
    .getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }"""
SHIFTS = """() => { window.__shifts = []; new PerformanceObserver((l) => { for (const e of l.getEntries())
    if (!e.hadRecentInput) window.__shifts.push(e.value); }).observe({ type: 'layout-shift', buffered: false }); }"""


@pytest.fixture
def slow(demo: Demo, settings: Any) -> None:
    settings.TRYON_GENERATOR = "tryon.tests.test_widget_browser.SlowGenerator"


@pytest.mark.usefixtures("slow")
def test_busy_keeps_focus_on_a_busy_region_and_the_dialog_keeps_its_size(page: Any, demo: Demo) -> None:
    page.goto(MEMBER)
    page.focus(".genvoris-tryon-btn")
    page.keyboard.press("Enter")
    choose_photo(page)
    part(page, '[data-a="go"]').focus()
    before = page.evaluate(BOX)
    page.evaluate(SHIFTS)
    page.keyboard.press("Enter")
    expect(part(page, ".busy")).to_be_visible()
    focused = page.evaluate(FOCUSED)
    assert focused is not None, "focus dropped out of the dialog"
    assert focused["cls"] == "busy"
    assert focused["busy"] == "true"
    assert focused["outline"] == "solid"
    assert page.evaluate(BOX) == before
    expect(part(page, "img.res")).to_be_visible()
    assert page.evaluate(BOX) == before, "the dialog changed size or place when the result came"
    assert page.evaluate("window.__shifts") == []
    assert page.evaluate(FOCUSED)["cls"].startswith("btn")


def test_the_dialog_is_built_ahead_on_the_first_pointer(page: Any, demo: Demo) -> None:
    page.add_init_script("window.requestIdleCallback = () => 0")  # only the pointer builds it here
    page.goto(GUEST)
    assert page.evaluate("document.querySelector('genvoris-tryon')") is None
    page.hover("h1")
    assert page.evaluate("document.querySelector('genvoris-tryon')") is None
    page.hover(".genvoris-tryon-btn")
    expect(page.locator("genvoris-tryon")).to_have_count(1)
    expect(dialog(page)).to_be_hidden()
    page.click(".genvoris-tryon-btn")
    expect(dialog(page)).to_be_visible()
    assert page.evaluate("document.querySelectorAll('genvoris-tryon').length") == 1


def test_the_dialog_is_built_when_idle(page: Any, demo: Demo) -> None:
    page.goto(GUEST)
    expect(page.locator("genvoris-tryon")).to_have_count(1)
    expect(dialog(page)).to_be_hidden()


# --- axe in every state of the dialog ----------------------------------------------------------

STATUS = "**/api/tryon/status"
GENERATE = "**/api/tryon/generate"
QUOTA_USED = {"used": 3, "limit": 3, "resetsAt": "2026-12-31T00:00:00.000Z"}
# What the preflight may answer that stops the shopper before a photo, and the message shown.
PREFLIGHT_REFUSALS: list[tuple[dict[str, Any], str]] = [
    ({"access": "EXHAUSTED", "message": "m", "quota": QUOTA_USED}, "You have used all 3 try-ons"),
    ({"access": "EXHAUSTED", "message": "m"}, "unavailable in this store right now"),
    ({"access": "LOCKED", "reason": "paused", "message": "m"}, "paused"),
    ({"access": "LOCKED", "reason": "cancelled", "message": "m"}, "cancelled"),
    ({"access": "LOCKED", "reason": "no plan", "message": "m"}, "does not include"),
    ({"access": "LOCKED", "reason": "store suspended", "message": "m"}, "not available on this site"),
    ({"access": "LOCKED", "error": "invalid_session_token", "message": "m"}, "session has expired"),
]
# What the upload may meet, and the message shown.
UPLOAD_FAILURES: list[tuple[Callable[[Any], None], str]] = [
    (lambda route: route.abort("connectionrefused"), "could not reach the try-on service"),
    (fulfil(429, refusal("rate_limited"), {"Retry-After": "12"}), "wait 12 seconds"),
    (fulfil(413, refusal("payload_too_large", fieldErrors={"photo": ["x"]})), "too large"),
    (fulfil(400, refusal("invalid_body", fieldErrors={"product_image": ["x"]})), "product image"),
    (fulfil(503, refusal("unavailable")), "nothing was charged"),
    (fulfil(502, refusal("unavailable", outcome="unknown")), "could not confirm"),
]
NOT_A_PHOTO = {"name": "notes.txt", "mimeType": "image/jpeg", "buffer": b"not an image at all"}


class Dialog:
    """The demo product page with the widget's requests in the test's hands, and axe over the
    page (the dialog's open shadow root included) in each state it is brought to."""

    def __init__(self, page: Any, language: str) -> None:
        self.page = page
        self.language = language
        self.found: list[str] = []
        self.held: list[Any] = []
        self.shown = ""

    def check(self, state: str) -> None:
        self.found += [f"[{state}] {v}" for v in violations(self.page)]

    def open(self, status: dict[str, Any], *, upgrade: bool = False) -> None:
        """Fresh, with this preflight answer; from code with an upgrade link, else from the button."""
        self.page.unroute(STATUS)
        self.page.route(STATUS, fulfil(200, status))
        if dialog(self.page).is_visible():
            self.page.keyboard.press("Escape")
        if upgrade:
            self.page.evaluate(OPEN_WITH_UPGRADE)
        else:
            self.page.click(".genvoris-tryon-btn")
        expect(dialog(self.page)).to_be_visible()

    def upload(self, answer: Callable[[Any], None]) -> None:
        self.page.unroute(GENERATE)
        self.page.route(GENERATE, answer)
        choose_photo(self.page)
        part(self.page, '[data-a="go"]').click()

    def hold(self, route: Any) -> None:
        self.held.append(route)

    def error(self, message: str, state: str) -> None:
        """In English the message is the one expected; in another language, a new one."""
        msg = part(self.page, ".msg")
        if self.language == "en":
            expect(msg).to_contain_text(message)
        else:
            expect(msg).not_to_have_text(self.shown)
            expect(dialog(self.page)).to_have_attribute("lang", self.language)
        self.shown = msg.text_content()
        self.check(state)


OPEN_WITH_UPGRADE = """() => { const b = document.querySelector('.genvoris-tryon-btn');
    Genvoris.openTryOn({ productImage: b.dataset.productImage, productTitle: b.dataset.productTitle,
        upgradeUrl: '/demo/', upgradeMessage: 'Upgrade to Plus for 20 try-ons a month.' }); }"""
ALLOWED = {"access": "ALLOWED", "message": "ok", "quota": {"used": 1, "limit": 3, "resetsAt": None}}


def walk_every_state(page: Any, language: str) -> list[str]:
    """Pick, busy (the upload held open), result, and each error the dialog can show."""
    ui = Dialog(page, language)
    page.goto(MEMBER)
    page.evaluate(f"document.querySelector('.genvoris-tryon-btn').dataset.language = '{language}'")
    ui.open(ALLOWED)
    expect(part(page, ".q")).to_be_visible()
    ui.check("pick")
    ui.upload(ui.hold)
    expect(part(page, ".busy")).to_be_visible()
    expect(part(page, '[data-s="photo"] .f')).to_have_attribute("aria-busy", "true")
    ui.check("busy")
    ui.held.pop().continue_()
    expect(part(page, "img.res")).to_be_visible()
    ui.check("result")
    for status, message in PREFLIGHT_REFUSALS:
        ui.open(status, upgrade=status.get("quota") is not None)
        ui.error(message, f"preflight {status}")
    for answer, message in UPLOAD_FAILURES:
        ui.open(ALLOWED)
        ui.upload(answer)
        ui.error(message, f"upload: {message}")
    ui.open(ALLOWED)
    part(page, "input.in").first.set_input_files(NOT_A_PHOTO)
    ui.error("not a photo", "not a photo")
    return ui.found


def test_every_state_of_the_dialog_has_no_violation(page: Any, demo: Demo) -> None:
    found = walk_every_state(page, "en")
    assert not found, "\n".join(found)


def test_every_state_right_to_left_has_no_violation(page: Any, demo: Demo) -> None:
    found = walk_every_state(page, "ar")
    assert dialog(page).get_attribute("dir") == "rtl"
    assert not found, "\n".join(found)
