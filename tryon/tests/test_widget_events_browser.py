"""widget.js 1.2 in Debian's chromium (SPEC §16; issue 12): the visit id (sessionStorage, the
`gv_sid` cookie, `Genvoris.sessionId`, sent with each generation) and the funnel events the widget
reports itself: in order, batched, a beacon when the page hides, nothing before an open, nothing
with a secret key or `data-no-events`, silent when the events URL fails.

The events URL is answered in the browser (`page.route`) and every body recorded, so the widget's
side is tested whatever the server has; `navigator.sendBeacon` is wrapped to see what went by beacon.
"""

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tryon.demo import Demo, demo_seed
from tryon.models import TryOnEvent
from tryon.tests.test_widget_browser import choose_photo, dialog, host_page, part, try_on

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATUS = "**/api/tryon/status"
GENERATE = "**/api/tryon/generate"
EVENTS = "**/api/tryon/events"
GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
SID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
BEACONS = """
window.__beacons = [];
const send = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, data) => {
  window.__beacons.push({ url, type: data.type });
  return send(url, data);
};
"""
HIDE = """() => {
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
PRODUCT = (
    '<button class="genvoris-tryon-btn" data-product-image="/static/tryon/demo/wrap-dress.png" '
    'data-product-id="sku-42" data-product-title="Black Wrap Dress">Virtual Try-on</button>'
)


@pytest.fixture
def demo(live_server: Any, settings: Any) -> Demo:
    settings.TRYON_TRACK_URL = ""
    return demo_seed()


class Recorded:
    """Every POST to the events URL (seen as it is sent, in order), answered 202 in the browser
    (or as `answer` says)."""

    def __init__(self, page: Any, pattern: str = EVENTS, answer: Any = None) -> None:
        self.requests: list[Any] = []
        self.answer = answer
        self.part = pattern.replace("*", "").lstrip("/")
        page.on("request", lambda r: self.requests.append(r) if self.part in r.url and r.method == "POST" else None)
        page.route(pattern, self.handle)

    def handle(self, route: Any) -> None:
        if self.answer:
            return self.answer(route)
        body = json.loads(route.request.post_data or "{}")
        return route.fulfill(status=202, body=json.dumps({"accepted": len(body.get("events", []))}))

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.post_data) for r in self.requests]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for b in self.bodies for e in b["events"]]

    @property
    def types(self) -> list[str]:
        return [e["eventType"] for e in self.events]


def loader(live_server: Any, key: str, extra: str = "") -> str:
    return f'<script src="{live_server.url}/widget.js" defer data-api-key="{key}" {extra}></script>'


def ready(page: Any) -> None:
    page.wait_for_function("window.Genvoris && window.Genvoris.version")


def open_widget(page: Any) -> None:
    page.click(".genvoris-tryon-btn")
    expect(dialog(page)).to_be_visible()
    # widget.js 1.2.2 records the open (WIDGET_OPENED, the funnel started) two frames after it,
    # off the click's path: a shopper is open that long before the page or a close can follow.
    page.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => requestAnimationFrame(done))))"
    )


def allowed(page: Any) -> None:
    page.route(STATUS, lambda r: r.fulfill(body='{"access":"ALLOWED","message":"ok"}', content_type="application/json"))
    page.route(
        GENERATE, lambda r: r.fulfill(body=json.dumps({"success": True, "image": GIF}), content_type="application/json")
    )


def wait_for(page: Any, recorded: Recorded, event_type: str) -> None:
    with page.expect_request(lambda r: "/api/tryon/events" in r.url and event_type in (r.post_data or "")):
        pass


class TestFunnel:
    def test_every_step_in_order_with_one_session_id(self, page: Any, demo: Demo, live_server: Any) -> None:
        allowed(page)
        recorded = Recorded(page)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        ready(page)
        sid = page.evaluate("Genvoris.sessionId")
        open_widget(page)
        try_on(page)
        page.wait_for_function(
            "document.querySelector('genvoris-tryon').shadowRoot.querySelector('img.res').naturalWidth > 0"
        )
        part(page, ".sv").click()
        with page.expect_request(lambda r: "/api/tryon/events" in r.url and "CLOSED" in (r.post_data or "")):
            page.keyboard.press("Escape")
        assert recorded.types == [
            "WIDGET_OPENED",
            "PHOTO_UPLOADED",
            "TRYON_GENERATED",
            "TRYON_VIEWED",
            "RESULT_SHARED",
            "CLOSED",
        ]
        assert {e["sessionId"] for e in recorded.events} == {sid}
        assert {e["productId"] for e in recorded.events} == {"sku-42"}
        assert {e["productTitle"] for e in recorded.events} == {"Black Wrap Dress"}
        assert {e["pageUrl"] for e in recorded.events} == {f"{live_server.url}/shop/page"}
        for request, body in zip(recorded.requests, recorded.bodies, strict=True):
            assert request.method == "POST"
            assert request.url == f"{live_server.url}/api/tryon/events"
            assert request.headers["content-type"] == "text/plain;charset=UTF-8"  # CORS-simple: no preflight
            assert body["api_key"] == demo.publishable_key
            assert 1 <= len(body["events"]) <= 10

    def test_batched_ten_at_most_in_a_request(self, page: Any, demo: Demo, live_server: Any) -> None:
        allowed(page)
        recorded = Recorded(page)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        open_widget(page)
        with page.expect_request(lambda r: "/api/tryon/events" in r.url and "CHECKOUT_STARTED" in (r.post_data or "")):
            page.evaluate(
                "for (let i = 0; i < 24; i++) Genvoris.trackEvent('ADDED_TO_CART', {productId: 'p' + i}); "
                "Genvoris.trackEvent('CHECKOUT_STARTED', {productTitle: 'Cart'})"
            )
        # WIDGET_OPENED + 24 + 1: full batches of 10 at once, the rest after the short delay.
        assert [len(b["events"]) for b in recorded.bodies] == [10, 10, 6]
        assert recorded.types == ["WIDGET_OPENED"] + ["ADDED_TO_CART"] * 24 + ["CHECKOUT_STARTED"]
        assert [e.get("productId") for e in recorded.events[1:25]] == [f"p{i}" for i in range(24)]
        assert recorded.events[-1]["productTitle"] == "Cart"
        assert "productId" not in recorded.events[-1]  # the page's own, not the product tried on

    def test_an_unknown_page_event_is_refused_in_the_console(self, page: Any, demo: Demo, live_server: Any) -> None:
        allowed(page)
        recorded = Recorded(page)
        warnings: list[str] = []
        page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        open_widget(page)
        with page.expect_request(lambda r: "/api/tryon/events" in r.url and "CHECKOUT_STARTED" in (r.post_data or "")):
            page.evaluate("Genvoris.trackEvent('WIDGET_OPENED'); Genvoris.trackEvent('CHECKOUT_STARTED')")
        assert recorded.types == ["WIDGET_OPENED", "CHECKOUT_STARTED"]
        assert "[Genvoris] Unknown event: WIDGET_OPENED" in warnings


class TestBeacon:
    def test_a_beacon_when_the_page_is_hidden(self, page: Any, demo: Demo, live_server: Any) -> None:
        page.add_init_script(BEACONS)
        allowed(page)
        recorded = Recorded(page)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        open_widget(page)
        wait_for(page, recorded, "WIDGET_OPENED")  # the delayed batch, by fetch
        assert page.evaluate("window.__beacons") == []
        with page.expect_request(lambda r: "ADDED_TO_CART" in (r.post_data or "")):
            page.evaluate("() => { Genvoris.trackEvent('ADDED_TO_CART', {productId: 'sku-42'}); (" + HIDE + ")(); }")
        beacons = page.evaluate("window.__beacons")
        assert beacons == [{"url": f"{live_server.url}/api/tryon/events", "type": "text/plain;charset=utf-8"}]
        assert recorded.types == ["WIDGET_OPENED", "ADDED_TO_CART"]
        assert recorded.bodies[-1]["api_key"] == demo.publishable_key

    def test_a_beacon_on_pagehide(self, page: Any, demo: Demo, live_server: Any) -> None:
        page.add_init_script(BEACONS)
        allowed(page)
        recorded = Recorded(page)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        open_widget(page)
        with page.expect_request(lambda r: "CLOSED" in (r.post_data or "")):
            # Left at once, within the short delay: only the beacon sends what is queued.
            page.evaluate(
                "() => { Genvoris.close(); dispatchEvent(new PageTransitionEvent('pagehide', {persisted: false})); }"
            )
        assert len(page.evaluate("window.__beacons")) == 1
        assert recorded.types == ["WIDGET_OPENED", "CLOSED"]


class TestNothingWithoutAnOpen:
    def test_no_event_before_the_shopper_opens_the_widget(self, page: Any, demo: Demo, live_server: Any) -> None:
        page.add_init_script(BEACONS)
        allowed(page)
        recorded = Recorded(page)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        ready(page)
        page.evaluate("Genvoris.trackEvent('ADDED_TO_CART', {productId: 'sku-42'})")
        page.evaluate(HIDE)
        page.evaluate("dispatchEvent(new Event('pagehide'))")
        page.wait_for_load_state("networkidle")
        assert recorded.requests == []
        assert page.evaluate("window.__beacons") == []
        open_widget(page)
        wait_for(page, recorded, "WIDGET_OPENED")
        assert recorded.types == ["WIDGET_OPENED"]  # the page's event before the open was dropped

    def test_an_open_counts_for_the_rest_of_the_visit(self, page: Any, demo: Demo, live_server: Any) -> None:
        allowed(page)
        recorded = Recorded(page)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        open_widget(page)
        wait_for(page, recorded, "WIDGET_OPENED")
        sid = page.evaluate("Genvoris.sessionId")
        page.reload()  # the cart page of the same visit
        ready(page)
        with page.expect_request(lambda r: "ADDED_TO_CART" in (r.post_data or "")):
            page.evaluate("Genvoris.trackEvent('ADDED_TO_CART', {productId: 'sku-42'})")
        assert recorded.types == ["WIDGET_OPENED", "ADDED_TO_CART"]
        assert recorded.events[-1]["sessionId"] == sid


class TestNoEvents:
    @pytest.mark.parametrize("case", ["secret-key", "data-no-events", "api-url-elsewhere"])
    def test_sends_none(self, page: Any, demo: Demo, live_server: Any, case: str) -> None:
        page.add_init_script(BEACONS)
        allowed(page)
        recorded = Recorded(page, "**/*events*")
        generated: list[Any] = []
        page.on("request", lambda r: generated.append(r) if "generate" in r.url else None)
        key = demo.secret_key if case == "secret-key" else demo.publishable_key
        extra = {
            "secret-key": "",
            "data-no-events": "data-no-events",
            "api-url-elsewhere": f'data-api-url="{live_server.url}/api/tryon/generate?shop=1"',
        }[case]
        host_page(page, live_server, PRODUCT + loader(live_server, key, extra))
        open_widget(page)
        try_on(page)
        expect(part(page, "img.res")).to_be_visible()
        page.evaluate("Genvoris.trackEvent('ADDED_TO_CART')")
        page.keyboard.press("Escape")
        page.evaluate(HIDE)
        page.wait_for_load_state("networkidle")
        assert recorded.requests == []
        assert page.evaluate("window.__beacons") == []
        assert len(generated) == 1  # the try-on itself went ahead

    @pytest.mark.parametrize(
        ("extra", "expected"),
        [
            ('data-events-url="{url}/collect/funnel-events"', "{url}/collect/funnel-events"),
            ('data-api-url="{url}/shop/tryon/generate"', "{url}/shop/tryon/events"),
        ],
        ids=["data-events-url", "beside-data-api-url"],
    )
    def test_the_events_url(self, page: Any, demo: Demo, live_server: Any, extra: str, expected: str) -> None:
        allowed(page)
        page.route(
            "**/shop/tryon/status", lambda r: r.fulfill(body='{"access":"ALLOWED"}', content_type="application/json")
        )
        recorded = Recorded(page, "**/*events*")
        host_page(
            page, live_server, PRODUCT + loader(live_server, demo.publishable_key, extra.format(url=live_server.url))
        )
        open_widget(page)
        with page.expect_request(lambda r: "WIDGET_OPENED" in (r.post_data or "")):
            pass
        assert [r.url for r in recorded.requests] == [expected.format(url=live_server.url)]


class TestFailures:
    @pytest.mark.parametrize(
        "answer",
        [lambda r: r.abort("connectionrefused"), lambda r: r.fulfill(status=500, body="<html>oops</html>")],
        ids=["network", "server-error"],
    )
    def test_silent_and_never_sent_twice(self, page: Any, demo: Demo, live_server: Any, answer: Any) -> None:
        allowed(page)
        recorded = Recorded(page, answer=answer)
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if "Genvoris" in m.text or "Uncaught" in m.text else None)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        open_widget(page)
        wait_for(page, recorded, "WIDGET_OPENED")
        try_on(page)
        expect(part(page, "img.res")).to_be_visible()  # the widget goes on
        with page.expect_request(lambda r: "CLOSED" in (r.post_data or "")):
            page.keyboard.press("Escape")
        assert problems == []
        assert recorded.types.count("WIDGET_OPENED") == 1  # no retry
        assert len(recorded.types) == len(set(recorded.types))

    def test_storage_and_cookies_blocked(self, page: Any, demo: Demo, live_server: Any) -> None:
        page.add_init_script(
            "Object.defineProperty(window, 'sessionStorage', { get() { throw new DOMException('no', 'SecurityError'); } });"
            "Object.defineProperty(Document.prototype, 'cookie', {"
            " get() { throw new DOMException('no', 'SecurityError'); }, set() { throw new DOMException('no', 'SecurityError'); } });"
        )
        allowed(page)
        recorded = Recorded(page)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        ready(page)
        sid = page.evaluate("Genvoris.sessionId")
        assert SID.match(sid)
        open_widget(page)
        try_on(page)
        expect(part(page, "img.res")).to_be_visible()
        with page.expect_request(lambda r: "CLOSED" in (r.post_data or "")):
            page.keyboard.press("Escape")
        assert {e["sessionId"] for e in recorded.events} == {sid}
        assert errors == []


# --- the visit id ------------------------------------------------------------------------------


def cookie(page: Any) -> dict[str, Any]:
    (found,) = [c for c in page.context.cookies() if c["name"] == "gv_sid"]
    return found


class TestSessionId:
    def test_kept_in_session_storage_and_the_cookie_across_a_reload(
        self, page: Any, demo: Demo, live_server: Any
    ) -> None:
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        ready(page)
        sid = page.evaluate("Genvoris.sessionId")
        assert SID.match(sid)
        assert page.evaluate("sessionStorage.getItem('gv_sid')") == sid
        assert page.evaluate("document.cookie").count(f"gv_sid={sid}") == 1  # readable by the checkout
        jar = cookie(page)
        assert (jar["value"], jar["path"], jar["sameSite"], jar["expires"], jar["httpOnly"]) == (
            sid,
            "/",
            "Lax",
            -1,  # a session cookie
            False,
        )
        page.reload()
        ready(page)
        assert page.evaluate("Genvoris.sessionId") == sid

    @pytest.mark.parametrize("kept", ["cookie", "sessionStorage"])
    def test_either_copy_is_enough(self, page: Any, demo: Demo, live_server: Any, kept: str) -> None:
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        ready(page)
        sid = page.evaluate("Genvoris.sessionId")
        if kept == "cookie":
            page.evaluate("sessionStorage.clear()")  # a new tab of the same visit
        else:
            page.context.clear_cookies()
        page.reload()
        ready(page)
        assert page.evaluate("Genvoris.sessionId") == sid
        assert cookie(page)["value"] == sid

    def test_an_invalid_one_is_replaced(self, page: Any, demo: Demo, live_server: Any) -> None:
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        ready(page)
        page.evaluate("sessionStorage.setItem('gv_sid', 'x'.repeat(65)); document.cookie = 'gv_sid=a%20b;path=/'")
        page.reload()
        ready(page)
        sid = page.evaluate("Genvoris.sessionId")
        assert SID.match(sid)
        assert sid not in ("x" * 65, "a%20b")

    def test_a_new_visit_gets_a_new_one(self, page: Any, browser: Any, demo: Demo, live_server: Any) -> None:
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        ready(page)
        first = page.evaluate("Genvoris.sessionId")
        other = browser.new_context(base_url=live_server.url).new_page()
        try:
            host_page(other, live_server, PRODUCT + loader(live_server, demo.publishable_key))
            ready(other)
            assert other.evaluate("Genvoris.sessionId") != first
        finally:
            other.context.close()

    def test_the_generation_carries_it(self, page: Any, demo: Demo, live_server: Any) -> None:
        allowed(page)
        generated: list[Any] = []
        page.on("request", lambda r: generated.append(r) if "/api/tryon/generate" in r.url else None)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.secret_key))  # legacy pages too
        ready(page)
        sid = page.evaluate("Genvoris.sessionId")
        open_widget(page)
        try_on(page)
        expect(part(page, "img.res")).to_be_visible()
        assert f'name="widget_session_id"\r\n\r\n{sid}\r\n' in generated[0].post_data_buffer.decode("latin-1")

    def test_the_try_on_is_stored_with_it(self, page: Any, demo: Demo, live_server: Any) -> None:
        Recorded(page)
        host_page(page, live_server, PRODUCT + loader(live_server, demo.publishable_key))
        ready(page)
        sid = page.evaluate("Genvoris.sessionId")
        open_widget(page)
        choose_photo(page)
        part(page, '[data-a="go"]').click()
        expect(part(page, "img.res")).to_be_visible()
        event = TryOnEvent.objects.filter(store=demo.store).latest("created_at")
        assert event.widget_session_id == sid
