"""Issue 15: the widget for every shopper. The busy state keeps focus, the dialog keeps its size
from step to step, it is built before the click, and every state passes axe (WCAG 2.1 A/AA)."""

from typing import Any

import pytest
from playwright.sync_api import expect

from tryon.demo import Demo
from tryon.tests.test_widget_browser import GUEST, MEMBER, choose_photo, demo, dialog, part

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
