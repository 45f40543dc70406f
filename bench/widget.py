"""widget.js on the demo product page in chromium: what it costs a merchant's page (issue 15).

Run from the project root (Debian's chromium at /usr/bin/chromium, nothing else needed):

    .venv/bin/python bench/widget.py [--loads 5] [--page /demo/wrap-dress/]

It makes a throw-away SQLite database, migrates it, seeds the demo store (tryon.demo.demo_seed)
and serves the project on a loopback port from this process (Django's threaded WSGI server, the
test settings: static files through WhiteNoise's finders, no collectstatic). Then, at 1× and 4×
CPU (CDP Emulation.setCPUThrottlingRate), `--loads` fresh loads each (a new browser context: no
cache, no sessionStorage, so the design fetch happens every time) of the product page measure:

- script evaluation: the DevTools trace's EvaluateScript of widget.js (compile and run);
- bound after DOMContentLoaded: when the trigger gets its `aria-haspopup` (the widget's listeners
  exist from its evaluation on), minus domContentLoadedEventStart; 0 if before it;
- click → first frame: a real mouse click (CDP input) on the trigger; from the click event's
  timeStamp to the first requestAnimationFrame after the dialog is open, plus the task that runs
  once that frame is produced (a MessageChannel message). Event Timing's duration of the click
  (the next paint after the handlers, which the browser reports only from 16 ms) is shown beside;
- layout shift without input: every `layout-shift` entry with hadRecentInput false, from the
  start of the load until 0.5 s after the dialog opened. The demo's own panel script
  (storefront.js, which fills in the status box after the load and so moves the page itself) is
  answered empty, so every shift left is the widget's;
- requests before the click that the widget made: Network.requestWillBeSent whose initiator
  (its URL or its script stack) is widget.js. SPEC §17 allows one, the button-design fetch.

Budgets (issue 15): click → first frame < 50 ms (median) at 4×, zero shift, no request before
the click but the design fetch. The exit status is 1 if a budget is missed.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from genvoris.tests.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (after the path is set)

RATES = (1, 4)
FIRST_FRAME_BUDGET_MS = 50.0
ALLOWED_BEFORE_CLICK = "/api/widget/button-design"

# Installed before any of the page's scripts run.
PROBE = r"""
window.__gv = { shifts: [], sources: [], bound: null, built: null, click: null, handled: null, frame: null, events: [] };
const describe = (n) => !n ? '?' : n.nodeType !== 1 ? n.nodeName : n.tagName.toLowerCase() + (n.id ? '#' + n.id : '') + (n.className && typeof n.className === 'string' ? '.' + n.className.trim().split(/\s+/).join('.') : '');
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (!e.hadRecentInput) {
    window.__gv.shifts.push(e.value);
    const at = (t) => t === null ? '' : ` ${(e.startTime - t).toFixed(0)} ms after ${t === window.__gv.built ? 'the build' : 'the bound'}`;
    for (const s of e.sources || []) window.__gv.sources.push(`${describe(s.node)} (${e.value.toFixed(4)} at ${e.startTime.toFixed(0)} ms;${at(window.__gv.built ?? window.__gv.bound)})`);
  }
}).observe({ type: 'layout-shift', buffered: true });
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.name === 'click') window.__gv.events.push(e.duration);
}).observe({ type: 'event', durationThreshold: 16, buffered: true });
new MutationObserver((_, observer) => {
  if (!window.__gv.built && document.querySelector('genvoris-tryon')) window.__gv.built = performance.now();
  const b = document.querySelector('.genvoris-tryon-btn');
  if (b && b.hasAttribute('aria-haspopup') && !window.__gv.bound) window.__gv.bound = performance.now();
  if (window.__gv.bound && window.__gv.built) observer.disconnect();
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-haspopup'] });
addEventListener('click', (e) => { window.__gv.click = e.timeStamp; }, true);
addEventListener('click', () => {
  window.__gv.handled = performance.now();
  const host = document.querySelector('genvoris-tryon');
  if (!host || !host.shadowRoot.querySelector('dialog').open) return;
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => { window.__gv.frame = performance.now(); };
    channel.port2.postMessage(0);
  });
});
"""
RESULT = """() => { const nav = performance.getEntriesByType('navigation')[0];
    return { ...window.__gv, dcl: nav.domContentLoadedEventStart,
             ahead: !!document.querySelector('genvoris-tryon') }; }"""


@dataclass
class Load:
    evaluate_ms: float
    bound_ms: float
    first_frame_ms: float
    second_frame_ms: float
    event_timing_ms: float | None
    shift: float
    shift_sources: list[str]
    handler_ms: float
    extra_requests: list[str] = field(default_factory=list)
    design_requests: int = 0
    built_ahead: bool = False


def serve() -> str:
    """The project on a loopback port, from this process, on a fresh SQLite database."""
    folder = tempfile.mkdtemp(prefix="genvoris-widget-bench-")
    os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
    os.environ["DJANGO_SETTINGS_MODULE"] = "genvoris.test_settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    from tryon.demo import demo_seed

    call_command("migrate", verbosity=0, interactive=False)
    demo_seed()

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=True)
    server.set_app(get_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def evaluate_ms(trace: bytes) -> float:
    """EvaluateScript of widget.js in the trace, in ms (its compile is nested inside)."""
    events = json.loads(trace)["traceEvents"]
    return sum(
        e.get("dur", 0) / 1000
        for e in events
        if e.get("name") == "EvaluateScript" and "/widget" in e.get("args", {}).get("data", {}).get("url", "")
    )


def from_widget(request: dict[str, Any]) -> bool:
    initiator = request.get("initiator", {})
    urls = [initiator.get("url", "")]
    stack = initiator.get("stack")
    while stack:
        urls += [frame.get("url", "") for frame in stack.get("callFrames", [])]
        stack = stack.get("parent")
    return any("/widget.js" in u or "/widget-" in u for u in urls)


def one_load(browser: Any, base: str, path: str, rate: int) -> Load:
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.add_init_script(PROBE)
    # The demo's own panel script fills in text after the load (a shift of the page's own making);
    # without it, every shift left is the widget's.
    page.route("**/tryon/demo/storefront.js", lambda route: route.fulfill(body="", content_type="text/javascript"))
    cdp = context.new_cdp_session(page)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
    cdp.send("Network.enable")
    requests: list[dict[str, Any]] = []
    clicked = [False]
    cdp.on("Network.requestWillBeSent", lambda r: None if clicked[0] else requests.append(r))
    browser.start_tracing(page=page, categories=["devtools.timeline"])
    page.goto(path, wait_until="load")
    for _ in range(40):  # a shopper reads for a moment; the widget builds its dialog when idle
        if page.evaluate("!!document.querySelector('genvoris-tryon')"):
            break
        page.wait_for_timeout(50)
    page.wait_for_timeout(300)
    trace = browser.stop_tracing()  # before the click: tracing slows what it watches
    clicked[0] = True
    box = page.locator(".genvoris-tryon-btn").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(100):
        if page.evaluate("window.__gv.frame !== null"):
            break
        page.wait_for_timeout(20)
    page.wait_for_timeout(500)
    result = page.evaluate(RESULT)
    page.keyboard.press("Escape")
    page.evaluate("window.__gv.frame = null")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(100):
        if page.evaluate("window.__gv.frame !== null"):
            break
        page.wait_for_timeout(20)
    again = page.evaluate(RESULT)
    context.close()
    widget = [r["request"]["url"] for r in requests if from_widget(r)]
    design = [u for u in widget if ALLOWED_BEFORE_CLICK in u]
    if result["frame"] is None:
        raise SystemExit(f"the dialog never showed on {path} at {rate}×")
    return Load(
        evaluate_ms=evaluate_ms(trace),
        bound_ms=max(0.0, (result["bound"] or 0) - result["dcl"]),
        first_frame_ms=result["frame"] - result["click"],
        second_frame_ms=again["frame"] - again["click"],
        event_timing_ms=max(result["events"]) if result["events"] else None,
        shift=sum(result["shifts"]),
        shift_sources=result["sources"],
        handler_ms=result["handled"] - result["click"],
        extra_requests=[u for u in widget if ALLOWED_BEFORE_CLICK not in u],
        design_requests=len(design),
        built_ahead=result["ahead"],
    )


def cell(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} / {max(values):.{digits}f}"


def event_timing(loads: list[Load]) -> str:
    """The browser reports a click's Event Timing from 16 ms only."""
    if not any(x.event_timing_ms for x in loads):
        return "< 16"
    return cell([x.event_timing_ms or 0.0 for x in loads], 0)


def table(loads: dict[int, list[Load]]) -> tuple[list[str], bool]:
    """The printed rows (Markdown), and whether every budget is met."""
    one, four = loads[1], loads[4]
    everything = one + four
    extra = sorted({u for x in everything for u in x.extra_requests})
    frame_ok = statistics.median(x.first_frame_ms for x in four) < FIRST_FRAME_BUDGET_MS
    shift_ok = max(x.shift for x in everything) == 0
    verdict = lambda ok: "ok" if ok else "MISSED"  # noqa: E731

    def row(name: str, measure: Any, digits: int = 1, budget: str = "—", ok: str = "") -> str:
        return f"| {name} | {cell([measure(x) for x in one], digits)} | {cell([measure(x) for x in four], digits)} | {budget} | {ok} |"

    rows = [
        f"| measure (median / max of {len(one)} loads) | 1× CPU | 4× CPU | budget | |",
        "|---|---|---|---|---|",
        row("widget.js evaluation, ms", lambda x: x.evaluate_ms),
        row("trigger bound after DOMContentLoaded, ms", lambda x: x.bound_ms),
        row("click → dialog's first frame, ms", lambda x: x.first_frame_ms, 1,
            f"< {FIRST_FRAME_BUDGET_MS:.0f} at 4× (median)", verdict(frame_ok)),
        row("click → its handlers done (the widget's work), ms", lambda x: x.handler_ms),
        row("click → first frame, second open, ms", lambda x: x.second_frame_ms),
        f"| Event Timing of the click, ms | {event_timing(one)} | {event_timing(four)} | — | |",
        row("layout shift without input", lambda x: x.shift, 4, "0", verdict(shift_ok)),
        row("widget requests before the click: design fetch", lambda x: float(x.design_requests), 0, "≤ 1"),
        row("widget requests before the click: others", lambda x: float(len(x.extra_requests)), 0, "0",
            verdict(not extra)),
        f"| dialog built ahead before the click | {sum(x.built_ahead for x in one)}/{len(one)} "
        f"| {sum(x.built_ahead for x in four)}/{len(four)} | — | |",
    ]  # fmt: skip
    moved = sorted({n for x in everything for n in x.shift_sources})
    if moved:
        rows.append("\nWhat shifted: " + ", ".join(moved))
    if extra:
        rows.append("\nRequests beyond the design fetch: " + ", ".join(extra))
    return rows, frame_ok and shift_ok and not extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--page", default="/demo/wrap-dress/")
    args = parser.parse_args()
    before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    base = serve()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        version = browser.version
        one_load(browser, base, args.page, 1)  # warm-up: the server's first answers, not measured
        loads = {rate: [one_load(browser, base, args.page, rate) for _ in range(args.loads)] for rate in RATES}
        browser.close()
    rows, ok = table(loads)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"widget.js on {args.page}, chromium {version}, {args.loads} fresh loads per CPU rate")
    print(f"load average before and after: {before} / {load} on {os.cpu_count()} CPUs\n")
    print("\n".join(rows))
    print("\nwithin budget" if ok else "\nBUDGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
