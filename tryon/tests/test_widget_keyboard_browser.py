"""Issue 15: the keyboard path through the widget. Tab reaches the trigger, Enter opens the dialog,
and at every step (pick, photo, busy, result, error) focus is inside the dialog with a visible
ring, Tab and Shift+Tab go round the dialog's controls and never leave it; Esc closes and gives
focus back to the trigger."""

from typing import Any

import pytest
from playwright.sync_api import expect

from tryon.demo import Demo
from tryon.tests.test_widget_a11y_browser import GENERATE
from tryon.tests.test_widget_browser import MEMBER, SAMPLE, demo, dialog, fulfil, part, refusal

__all__ = ["demo"]  # the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The focused element inside the dialog, and whether a focus ring is drawn around it.
FOCUS = """() => { const host = document.activeElement;
    if (!host || host.tagName !== 'GENVORIS-TRYON') return null;
    const el = host.shadowRoot.activeElement;
    if (!el || !host.shadowRoot.querySelector('dialog').contains(el)) return null;
    const cs = getComputedStyle(el);
    const ring = (cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== 'none';
    return { name: el.getAttribute('data-a') || el.className, ring }; }"""
# The controls a shopper can reach now: enabled, rendered and not in a step that is hidden.
CONTROLS = """() => [...document.querySelector('genvoris-tryon').shadowRoot
    .querySelectorAll('button:not([disabled]),a[href]')]
    .filter((el) => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden')
    .map((el) => el.getAttribute('data-a') || el.className)"""
TRIGGER_FOCUSED = "document.activeElement.classList.contains('genvoris-tryon-btn')"


def focus(page: Any, step: str) -> str:
    """The focused control's name, after checking it is inside the dialog and visibly focused."""
    found = page.evaluate(FOCUS)
    assert found is not None, f"{step}: focus is not inside the dialog"
    assert found["ring"], f"{step}: {found['name']} has focus but no visible focus ring"
    return str(found["name"])


def assert_tab_goes_round(page: Any, step: str) -> None:
    """Twice round the controls each way: every control is reached, focus never leaves."""
    controls = page.evaluate(CONTROLS)
    assert controls, f"{step}: nothing to reach"
    for key in ("Tab", "Shift+Tab"):
        seen = []
        for _ in range(2 * len(controls)):
            page.keyboard.press(key)
            seen.append(focus(page, f"{step}, {key}"))
        assert sorted(set(seen)) == sorted(set(controls)), f"{step}, {key}: reached {seen} of {controls}"


def test_the_keyboard_path(page: Any, demo: Demo) -> None:
    held: list[Any] = []
    page.route(GENERATE, lambda route: held.append(route))
    # Playwright intercepts file choosers once a listener exists; listening from the start, the
    # interception is in place before the Enter that opens one.
    page.on("filechooser", lambda chooser: None)
    page.goto(MEMBER)
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate(TRIGGER_FOCUSED):
            break
    else:
        pytest.fail("Tab never reached the try-on button")
    page.keyboard.press("Enter")
    expect(dialog(page)).to_be_visible()
    assert focus(page, "pick") == "choose"
    assert_tab_goes_round(page, "pick")

    part(page, '[data-a="choose"]').focus()  # Tab reached it above; back on it directly
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(SAMPLE))
    expect(part(page, '[data-s="photo"]')).to_be_visible()
    assert focus(page, "photo") == "go"
    assert_tab_goes_round(page, "photo")

    part(page, '[data-a="go"]').focus()
    page.keyboard.press("Enter")
    expect(part(page, ".busy")).to_be_visible()
    assert focus(page, "busy") == "busy"
    assert_tab_goes_round(page, "busy")

    held.pop().continue_()
    expect(part(page, "img.res")).to_be_visible()
    assert focus(page, "result") == "change"
    assert_tab_goes_round(page, "result")

    page.unroute(GENERATE)
    page.route(GENERATE, fulfil(503, refusal("unavailable")))
    part(page, '[data-s="result"] [data-a="change"]').focus()
    page.keyboard.press("Enter")
    assert focus(page, "pick again") == "choose"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(SAMPLE))
    expect(part(page, '[data-s="photo"]')).to_be_visible()
    assert focus(page, "photo again") == "go"
    page.keyboard.press("Enter")
    expect(part(page, ".msg")).to_contain_text("nothing was charged")
    assert focus(page, "error") == "retry"
    assert_tab_goes_round(page, "error")

    page.keyboard.press("Escape")
    expect(dialog(page)).to_be_hidden()
    assert page.evaluate(TRIGGER_FOCUSED)
    assert page.evaluate("document.activeElement.matches(':focus-visible')")
