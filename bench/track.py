"""Benchmark POST /api/tryon/track against a raw-SQL baseline, then check the books.

Run from the project root, with PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres):

    .venv/bin/python bench/track.py [--duration 10 --connections 16 --stores 50 --customers 200]

It recreates the database genvoris_bench, migrates it, seeds it through the project's services
(stores with a key, credits and a plan; customers with a session token, for our endpoint and for
the baseline on separate stores), serves the project with gunicorn (WEB_CONCURRENCY sync workers,
default 2) on a free loopback port, and drives it from a separate process (bench/loadgen.py) in
three modes: legacy (api_key only, over every store), customer (with an end_customer_token, over
every customer) and hot (every request on one store: row-lock contention). Each mode runs against
our endpoint and against the minimal raw-SQL view of bench/baseline.py in the same gunicorn.

With --metrics it measures the cost of the Prometheus metrics instead (issue 14): two gunicorns on
the same database, one with METRICS_ENABLED=false, each mode run on the off server then on the on
server, --metrics-rounds times, plus the baseline once per mode on the off server; it prints req/s
for each and the on/off and on/baseline ratios, then a sample of the on server's /metrics.

It prints req/s, p50, p99 and errors per mode and endpoint, and ours/baseline ratios. Then it
checks, per store, credits spent == 200 answers counted == debited events, per customer, usage ==
200 answers == debited events, nothing below zero, and `audit_credits` without drift; exits 1 on any
drift. Gunicorn is stopped on exit; the database is left for inspection (dropped by the next run).
"""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import db
from bench.inprocess import cpu_per_request, statements_per_request

BENCH = Path(__file__).resolve().parent
MODES = ("legacy", "customer", "hot")
Result = dict[str, Any]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per mode and endpoint")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each run")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections of the load process")
    parser.add_argument("--stores", type=int, default=50, help="stores per endpoint")
    parser.add_argument("--customers", type=int, default=200, help="customers per endpoint")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread)")
    parser.add_argument(
        "--hot-connections",
        default="8,16,32,64",
        help="connection counts for the hot store's collapse check ('' to skip)",
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help='also run each mode with every store\'s webhook endpoint disabled, then enabled (events ["*"])',
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="instead: our endpoint with metrics off and on (METRICS_ENABLED), alternating on two gunicorns",
    )
    parser.add_argument("--metrics-rounds", type=int, default=2, help="off/on alternations per mode (--metrics)")
    parser.add_argument(
        "--config-sweep",
        default="",
        help="gunicorn configs to compare instead, e.g. sync:2,sync:4,gthread:2:4 (class:workers[:threads])",
    )
    args = parser.parse_args()
    if args.metrics and (args.config_sweep or args.webhooks):
        parser.error("--metrics runs on its own, without --config-sweep or --webhooks")
    if min(args.stores, args.customers, args.connections, args.workers, args.metrics_rounds) < 1 or args.duration <= 0:
        parser.error("stores, customers, connections and workers must be ≥ 1, duration > 0")
    return args


def bench_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db.DB_URL,
        "SECRET_KEY": "bench",
        "DEBUG": "false",
        "TRYON_INTERNAL_SECRET": "bench-secret",
        "ALLOWED_HOSTS": "127.0.0.1",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/15"),
        "DJANGO_SETTINGS_MODULE": "bench.bench_settings",
        "LOG_LEVEL": "WARNING",
        # No worker recycling during a measurement: the soak must see a leak, not hide it.
        "GUNICORN_MAX_REQUESTS": "0",
        "PYTHONPATH": str(db.ROOT),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], config: "Config", log: Path) -> Iterator[int]:
    """Serve the project with gunicorn.conf.py on a free loopback port until the block ends."""
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "genvoris.wsgi",
        "-c",
        str(db.ROOT / "gunicorn.conf.py"),
        "-w",
        str(config.workers),
        "-k",
        config.worker_class,
        "--threads",
        str(config.threads),
        "--no-control-socket",
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "-b", f"127.0.0.1:{port}"], cwd=db.ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        wait_until_up(server, port, log)
        yield port
    finally:
        stop(server)


def wait_until_up(server: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"gunicorn did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM gunicorn's own process group (master and workers), SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if server.poll() is not None:
            return
        try:
            os.killpg(server.pid, sig)
            server.wait(grace)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass(frozen=True)
class Config:
    worker_class: str
    workers: int
    threads: int = 1

    @classmethod
    def parse(cls, text: str) -> "Config":
        worker_class, workers, *threads = text.split(":")
        return cls(worker_class, int(workers), int(threads[0]) if threads else 1)

    def __str__(self) -> str:
        return f"{self.worker_class} × {self.workers}" + (f" × {self.threads} threads" if self.threads > 1 else "")


def load(
    args: argparse.Namespace, seed_file: Path, side: str, mode: str, port: int, connections: int | None = None
) -> Result:
    command = [sys.executable, str(BENCH / "loadgen.py"), str(seed_file), "--side", side, "--mode", mode]
    command += ["--port", str(port), "--duration", str(args.duration), "--warmup", str(args.warmup)]
    command += ["--connections", str(connections or args.connections)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=args.warmup + args.duration + 60)
    if done.returncode != 0:
        sys.exit(f"the load process failed ({done.returncode})")
    result: Result = json.loads(done.stdout)
    label = f"{mode:<8} {side:<8} {connections or args.connections:>3} conn"
    print(f"  {label} {result['requests']:>6} requests, statuses {result['statuses']}", flush=True)
    return result


def ratio(ours: float, baseline: float) -> str:
    return f"{ours / baseline:.2f}" if baseline else "n/a"


def print_table(results: dict[tuple[str, str], Result]) -> None:
    columns = f"{'mode':<9}{'endpoint':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
    print(f"\n{columns}{'req/s ours/base':>17}{'p99 ours/base':>15}")
    for mode in MODES:
        ours, base = results[mode, "track"], results[mode, "baseline"]
        for side, r in (("track", ours), ("baseline", base)):
            row = f"{mode:<9}{side:<10}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors']:>8}"
            extra = f"{ratio(ours['rps'], base['rps']):>17}{ratio(ours['p99_ms'], base['p99_ms']):>15}"
            print(row + (extra if side == "track" else ""))


def print_statements(statements: dict[str, int]) -> None:
    print("\nSQL statements per successful request, measured (BEGIN/COMMIT not counted):")
    for mode, count in statements.items():
        print(f"  {mode:<32}{count:>3}")


def print_hot(hot: dict[tuple[int, str], Result], counts: list[int]) -> None:
    """The hot store from few to many connections: throughput must not collapse under contention."""
    print(f"\nhot store by connections{'':<4}" + "".join(f"{n:>9}" for n in counts) + "   worst/peak")
    for side in db.SIDES:
        rates = [hot[n, side]["rps"] for n in counts]
        p99s = [hot[n, side]["p99_ms"] for n in counts]
        print(
            f"  {side:<10} req/s{'':<13}" + "".join(f"{r:>9.1f}" for r in rates) + f"{min(rates) / max(rates):>10.2f}"
        )
        print(f"  {side:<10} p99 ms{'':<12}" + "".join(f"{p:>9.1f}" for p in p99s))


def run_sweep(
    args: argparse.Namespace, configs: list[Config], env: dict[str, str], seed_file: Path, tmp: Path
) -> dict[Any, Result]:
    """Each gunicorn config on the same seed: our endpoint's req/s and p99 per mode."""
    results: dict[Any, Result] = {}
    for config in configs:
        with gunicorn(env, config, tmp / "gunicorn.log") as port:
            print(f"gunicorn: {config}", flush=True)
            for mode in MODES:
                results[str(config), mode] = load(args, seed_file, "track", mode, port)
    print(f"\n{'config':<28}" + "".join(f"{m + ' req/s':>16}{'p99 ms':>9}" for m in MODES))
    for config in configs:
        row = "".join(
            f"{results[str(config), m]['rps']:>16.1f}{results[str(config), m]['p99_ms']:>9.1f}" for m in MODES
        )
        print(f"{config!s:<28}{row}")
    return results


def tallies(results: dict[Any, Result], field: str) -> Counter[str]:
    total: Counter[str] = Counter()
    for result in results.values():
        total.update(result[field])
    return total


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks, which stop gunicorn


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even if started ignoring it
    env = bench_env()
    os.environ.update(env)
    print(f"Recreating and migrating {db.DB_NAME} …", flush=True)
    db.recreate(env)
    import django

    django.setup()
    from django.db import connections

    print(f"Seeding {args.stores} stores and {args.customers} customers per endpoint …", flush=True)
    seeded = db.seed(stores=args.stores, customers=args.customers)
    connections.close_all()
    statements = statements_per_request()
    hot: dict[tuple[int, str], Result] = {}
    sweep = [Config.parse(c) for c in args.config_sweep.split(",") if c]
    hot_counts = [int(n) for n in args.hot_connections.split(",") if n]
    with tempfile.TemporaryDirectory(prefix="genvoris-bench-") as tmp:
        seed_file = Path(tmp) / "seed.json"
        seed_file.write_text(json.dumps(seeded))
        if sweep:
            results = run_sweep(args, sweep, env, seed_file, Path(tmp))
        elif args.metrics:
            results = metrics_compare(args, env, seed_file, Path(tmp))
        else:
            config = Config(args.worker_class, args.workers, args.threads)
            with gunicorn(env, config, Path(tmp) / "gunicorn.log") as port:
                print(
                    f"gunicorn: {config} on 127.0.0.1:{port}; {args.connections} connections, "
                    f"{args.warmup:g} s warm-up + {args.duration:g} s per run",
                    flush=True,
                )
                results = {(m, s): load(args, seed_file, s, m, port) for m in MODES for s in db.SIDES}
                hot = {(n, s): load(args, seed_file, s, "hot", port, n) for n in hot_counts for s in db.SIDES}
                if args.webhooks:
                    hooked = webhook_compare(args, seeded, seed_file, port)
    if sweep or args.metrics:
        return check_books(seeded, results, env)
    print_table(results)
    print_statements(statements)
    if hot:
        print_hot(hot, hot_counts)
    if args.webhooks:
        print_webhooks(hooked)
        results.update({(f"{mode}-{state}", "track"): r for (mode, state), r in hooked.items()})
        problems = check_outbox(seeded, hooked)
        if problems:
            print(*problems, sep="\n")
            return 1
    return check_books(seeded, {**results, **{(f"hot{n}", s): r for (n, s), r in hot.items()}}, env)


# --- with and without a webhook endpoint (issue 10) --------------------------------------------

_HOOK_STATES = ("no endpoint", "endpoint")


def webhook_compare(args: argparse.Namespace, seeded: Any, seed_file: Path, port: int) -> dict[Any, Result]:
    """Each mode on our endpoint's stores twice in a row: their endpoints disabled, then enabled
    (subscribed to every event), so the ratio is measured side by side on one server."""
    from django.db import connections

    from stores.models import Store, WebhookEndpoint
    from stores.services import Actor
    from stores.webhooks.services import webhook_endpoint_create, webhook_endpoint_update

    actor = Actor("bench")
    stores = Store.objects.filter(public_id__in=[row["public_id"] for row in seeded["track"]["stores"]])
    for store in stores:
        webhook_endpoint_create(store=store, url="http://127.0.0.1:9/bench", events=["*"], actor=actor)
    endpoints = list(WebhookEndpoint.objects.filter(store__in=stores).select_related("store"))
    results: dict[Any, Result] = {}
    for mode in MODES:
        for state in _HOOK_STATES:
            for endpoint in endpoints:
                webhook_endpoint_update(endpoint=endpoint, active=state == "endpoint", actor=actor)
            connections.close_all()
            results[mode, state] = load(args, seed_file, "track", mode, port)
    return results


def print_webhooks(hooked: dict[Any, Result]) -> None:
    print(f"\n{'mode':<9}{'stores':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'req/s with/without':>20}")
    for mode in MODES:
        without = hooked[mode, "no endpoint"]
        for state in _HOOK_STATES:
            r = hooked[mode, state]
            row = f"{mode:<9}{state:<14}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['errors']:>8}"
            print(row + (f"{ratio(r['rps'], without['rps']):>20}" if state == "endpoint" else ""))


def check_outbox(seeded: Any, hooked: dict[Any, Result]) -> list[str]:
    """Every try-on debited while the endpoints were on is in the outbox once: the worker's
    dispatch turns exactly that many into tryon.completed events."""
    from django.utils import timezone

    from stores.models import WebhookEvent
    from stores.webhooks.worker import webhooks_dispatch

    expected = sum(sum(r["ok_by_store"].values()) for (_, state), r in hooked.items() if state == "endpoint")
    webhooks_dispatch(now=timezone.now())
    track_stores = [row["public_id"] for row in seeded["track"]["stores"]]
    made = WebhookEvent.objects.filter(type="tryon.completed", store__public_id__in=track_stores).count()
    print(f"\nOutbox: {expected} try-ons debited with an endpoint on; {made} tryon.completed events made from them.")
    return [] if made == expected else [f"OUTBOX DRIFT: expected {expected} tryon.completed events, made {made}"]


# --- with and without metrics (issue 14) ---------------------------------------------------------

_METRICS_STATES = ("off", "on")
# What the sample after the run shows: the domain counters and the request histogram's totals.
_SAMPLED = ("genvoris_tryons_total", "genvoris_credits_debited_total", "genvoris_payment_required_total")
_SAMPLED += ("genvoris_http_request_duration_seconds", "genvoris_webhook_", "genvoris_token_verification")


def metrics_compare(args: argparse.Namespace, env: dict[str, str], seed_file: Path, tmp: Path) -> dict[Any, Result]:
    """Each mode on the same stores, alternating between a gunicorn with METRICS_ENABLED=false and
    one with metrics on (the default), so the ratio is measured side by side in one run."""
    from django.db import connections

    print(f"In-process CPU per legacy request, metrics off/on, {args.metrics_rounds} rounds of 1000 …", flush=True)
    cpu = cpu_per_request(requests=1000, rounds=args.metrics_rounds)
    connections.close_all()
    config = Config(args.worker_class, args.workers, args.threads)
    results: dict[Any, Result] = {}
    rates: dict[tuple[str, str], list[float]] = {}
    off_env = {**env, "METRICS_ENABLED": "false"}
    with (
        gunicorn(off_env, config, tmp / "gunicorn-off.log") as off_port,
        gunicorn(env, config, tmp / "gunicorn-on.log") as on_port,
    ):
        ports = {"off": off_port, "on": on_port}
        print(f"gunicorn: {config}, metrics off on :{off_port}, on on :{on_port}; {args.connections} connections")
        for mode in MODES:
            results[mode, "baseline"] = load(args, seed_file, "baseline", mode, off_port)
            for n in range(args.metrics_rounds):
                for state in _METRICS_STATES:
                    print(f"  metrics {state}:", end="", flush=True)
                    result = load(args, seed_file, "track", mode, ports[state])
                    results[mode, state, n] = result
                    rates.setdefault((mode, state), []).append(result["rps"])
        refusals(on_port, json.loads(seed_file.read_text()))
        sample = scrape(on_port)
    print_metrics(results, rates, args.metrics_rounds)
    alone = [metrics_cost(env, tmp, multiprocess) for multiprocess in (False, True)]
    off, on = statistics.median(cpu["off"]), statistics.median(cpu["on"])
    print(
        f"\nCPU per legacy track request in-process (µs, each round): off {' '.join(f'{c:.0f}' for c in cpu['off'])}; "
        f"on {' '.join(f'{c:.0f}' for c in cpu['on'])}; medians {off:.0f} → {on:.0f} (on/off {on / off:.3f}, "
        f"+{on - off:.0f} µs)"
    )
    print(
        "The metrics' own work per debited request (bench/metrics_cost.py, best of 5): "
        + "; ".join(f"{a['mode']} {a['us_per_request']:.1f} µs" for a in alone)
    )
    print("\n/metrics of the metrics-on server after the run (buckets of other routes left out):")
    print(*sample, sep="\n")
    return results


def metrics_cost(env: dict[str, str], tmp: Path, multiprocess: bool) -> dict[str, Any]:
    run_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if multiprocess:
        (tmp / "metrics-cost").mkdir(exist_ok=True)
        run_env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "metrics-cost")
    done = subprocess.run(
        [sys.executable, str(BENCH / "metrics_cost.py")], env=run_env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def refusals(port: int, seeded: Any) -> None:
    """Two refused try-ons on the metrics-on server (nothing debited), so the sample shows the
    refusal series beside the load's debits: a wrong internal secret, and a malformed token."""
    key = seeded["track"]["stores"][0]["key"]
    for secret, body in (("wrong", {"api_key": key}), ("bench-secret", {"api_key": key, "end_customer_token": "x"})):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json", "x-internal-secret": secret}
        conn.request("POST", "/api/tryon/track", body=json.dumps(body), headers=headers)
        conn.getresponse().read()


def scrape(port: int) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    text = response.read().decode()
    if response.status != 200:
        sys.exit(f"GET /metrics answered {response.status}: {text[:500]}")
    return [
        line
        for line in text.splitlines()
        if any(name in line for name in _SAMPLED)
        and ("_bucket" not in line or 'route="api/tryon/track",status="200"' in line)
    ]


def print_metrics(results: dict[Any, Result], rates: dict[tuple[str, str], list[float]], rounds: int) -> None:
    """req/s per round; on/off is the median of each round's on/off (the runs of a round are back
    to back, so the machine's other load cancels best there), on/base the medians' ratio."""
    print(
        f"\n{'mode':<9}{'metrics':<10}{'req/s (each round)':<32}{'median':>8}{'p99 ms':>9}{'errors':>8}"
        f"{'on/off':>8}{'on/base':>9}"
    )
    for mode in MODES:
        means = {state: statistics.median(rates[mode, state]) for state in _METRICS_STATES}
        paired = statistics.median(on / off for on, off in zip(rates[mode, "on"], rates[mode, "off"], strict=True))
        base = results[mode, "baseline"]
        for state in _METRICS_STATES:
            runs = [results[mode, state, n] for n in range(rounds)]
            each = " ".join(f"{r:.1f}" for r in rates[mode, state])
            p99 = max(r["p99_ms"] for r in runs)
            errors = sum(r["errors"] for r in runs)
            row = f"{mode:<9}{state:<10}{each:<32}{means[state]:>8.1f}{p99:>9.1f}{errors:>8}"
            if state == "on":
                row += f"{paired:>8.2f}{ratio(means['on'], base['rps']):>9}"
            print(row)
        print(
            f"{mode:<9}{'baseline':<10}{base['rps']:<32.1f}{base['rps']:>8.1f}{base['p99_ms']:>9.1f}{base['errors']:>8}"
        )


def check_books(seeded: Any, results: dict[Any, Result], env: dict[str, str]) -> int:
    problems = db.verify(seeded, tallies(results, "ok_by_store"), tallies(results, "ok_by_customer"))
    problems += db.audit(env)
    total = sum(tallies(results, "ok_by_store").values())
    if problems:
        print(f"\nDRIFT ({len(problems)}):", *problems[:50], sep="\n  ")
        return 1
    print(f"\nBooks balance: {total} successful try-ons == credits spent == debited events; audit_credits clean.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("Interrupted; gunicorn stopped.")
