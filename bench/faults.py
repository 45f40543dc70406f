"""Fault-injection benchmark of POST /api/tryon/track: races, retry storms, a database restart and
outage, killed workers and a soak; each scenario PASS or FAIL with its figures, then the books.

Run from the project root (as root or not; Redis on 127.0.0.1:6379, PostgreSQL binaries under
/usr/lib/postgresql/*/bin):

    .venv/bin/python bench/faults.py [--skip soak] [--only NAME] [--soak-seconds N] [--soak-rps R]

Scenarios (NAME): overdraft, storm, db-restart, worker-kill, soak (600 s by default; the rest take
about 2–4 minutes). It starts a private PostgreSQL cluster (initdb into a temporary folder, a free
loopback port; never the shared server on 5432), creates genvoris_faults there, migrates and seeds
it through the project's services (bench/db.py), serves the project with gunicorn (≥ 3 sync
workers, bench/track.py) and drives it from client threads on 127.0.0.1. Every request carries an
Idempotency-Key equal to its product_title, so the database can tell how often each key was
charged. After each scenario it checks the books: nothing below zero, per store top-ups −
expiries − debited events == balance, per usage period used == its debited events, at most one
debit per key, and `manage.py audit_credits`. Exits 1 if any scenario fails. Gunicorn and the
cluster are stopped at the end, on Ctrl-C and on errors; the cluster's folder is deleted.
"""

import argparse
import http.client
import itertools
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import db, pgcluster, track

SCENARIOS = ("overdraft", "storm", "db-restart", "worker-kill", "soak")
DB_NAME = "genvoris_faults"
CACHE_URL = "redis://127.0.0.1:6379/14"
HOST, PATH, SECRET = "127.0.0.1", "/api/tryon/track", "bench-secret"
KEY_PREFIX = "fk-"  # every key (and product_title) this bench sends starts with it
REQUEST_TIMEOUT = 15.0
MAX_ATTEMPTS = 20  # per key during a load
KEY_SECONDS = 30.0  # and at most this long retrying it
MAX_KEYS_PER_CLIENT = 20_000
RECOVERY_SECONDS = 5.0
TRANSPORT = ("reset", "refused", "timeout")


# --- HTTP: one request per connection (gunicorn's sync workers close it anyway) ---------------


@dataclass(frozen=True)
class Shot:
    key: str  # Idempotency-Key and product_title
    store: str
    customer: str | None
    payload: bytes


@dataclass(frozen=True)
class Attempt:
    key: str
    start: float
    end: float
    status: int  # 0: no HTTP answer
    kind: str  # "200", "503 unavailable", "reset", "500 bad-envelope", …
    body: bytes
    replayed: bool

    @property
    def retryable(self) -> bool:
        return self.status in (0, 409) or self.status >= 500


def shot(key: str, api_key: str, store: str, customer: str | None = None, token: str | None = None) -> Shot:
    body: dict[str, Any] = {"api_key": api_key, "product_type": "apparel", "product_title": key}
    body |= {"variation_count": 2, "generation_time_ms": 1500, "page_url": "https://shop.example/p/1"}
    if token:
        body["end_customer_token"] = token
    return Shot(key, store, customer, json.dumps(body).encode())


def classify(status: int, body: bytes) -> str:
    """The status, plus the error code of an error; 'bad-envelope' if it is not {error, message, detail}."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if status == 200:
        return "200" if isinstance(parsed, dict) and parsed.get("success") is True else "200 bad-body"
    if not isinstance(parsed, dict) or not {"error", "message", "detail"} <= parsed.keys():
        return f"{status} bad-envelope"
    return f"{status} {parsed['error']}"


def send(port: int, shot: Shot) -> Attempt:
    headers = {"Content-Type": "application/json", "x-internal-secret": SECRET, "Idempotency-Key": shot.key}
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    start, status, body, replayed = time.monotonic(), 0, b"", False
    try:
        conn.request("POST", PATH, shot.payload, headers)
        response = conn.getresponse()
        status, body = response.status, response.read()
        replayed = response.getheader("Idempotent-Replayed") == "true"
        kind = classify(status, body)
    except ConnectionRefusedError:
        kind, status = "refused", 0
    except TimeoutError:
        kind, status = "timeout", 0
    except (OSError, http.client.HTTPException):  # reset, remote disconnected, broken pipe
        kind, status = "reset", 0
    finally:
        conn.close()
    return Attempt(shot.key, start, time.monotonic(), status, kind, body, replayed)


def pause(attempt: Attempt) -> float:
    # 409 and 503 say Retry-After: 1; a lost connection is retried sooner.
    return 1.0 if attempt.status in (409, 503) else 0.3


@dataclass
class Run:
    """Every attempt of a load, and each key's last answer."""

    shots: dict[str, Shot] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    final: dict[str, Attempt] = field(default_factory=dict)

    def resolve(self, port: int, shot: Shot, attempts: int = MAX_ATTEMPTS, seconds: float = KEY_SECONDS) -> Attempt:
        """Retry the same key and body until a definitive answer, or `attempts`, or `seconds`."""
        self.shots[shot.key] = shot
        give_up = time.monotonic() + seconds
        for n in itertools.count(1):
            attempt = send(port, shot)
            self.attempts.append(attempt)
            if not attempt.retryable or n >= attempts or time.monotonic() + pause(attempt) >= give_up:
                break
            time.sleep(pause(attempt))
        self.final[shot.key] = attempt
        return attempt

    def unresolved(self) -> list[str]:
        return [key for key, attempt in self.final.items() if attempt.retryable]


def burst(port: int, shots: list[Shot]) -> list[Attempt]:
    """One thread per shot, released together by a barrier; one attempt each."""
    gate, out = threading.Barrier(len(shots)), []

    def fire(s: Shot) -> None:
        gate.wait(timeout=30)
        out.append(send(port, s))

    threads = [threading.Thread(target=fire, args=(s,), daemon=True) for s in shots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=REQUEST_TIMEOUT + 35)
    return out


def retrying_load(
    port: int, make: Callable[[int], Shot], clients: int, seconds: float, faults: Callable[[], None]
) -> Run:
    """`clients` threads, each sending new keys and retrying each until answered, for `seconds`;
    `faults` runs meanwhile in this thread."""
    run, numbers, stop_at = Run(), itertools.count(), time.monotonic() + seconds

    def client() -> None:
        for _ in range(MAX_KEYS_PER_CLIENT):
            if time.monotonic() >= stop_at:
                return
            run.resolve(port, make(next(numbers)))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    faults()
    for t in threads:
        t.join(timeout=max(0.0, stop_at - time.monotonic()) + KEY_SECONDS + REQUEST_TIMEOUT)
    return run


def settle(port: int, run: Run, seconds: float) -> str:
    """Retry the keys the load left unresolved every 2 s for up to `seconds`; a line of figures.

    Long enough (70 s by default) for a key left "in progress" by a dead request to be taken over
    again, so a key that can be charged twice is charged twice here rather than after the bench.
    """
    start, pending = time.monotonic(), run.unresolved()
    stuck = len(pending)
    while pending and time.monotonic() < start + seconds:
        time.sleep(2.0)
        pending = [k for k in pending if run.resolve(port, run.shots[k], attempts=1).retryable]
    return (
        f"unresolved when the load ended: {stuck}; after {time.monotonic() - start:.0f} s more of retries: "
        f"{len(pending)}"
    )


# --- Processes: gunicorn's workers, found as children of its master ---------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if int(ppid) == pid and state != "Z":  # a killed worker lingers as a zombie until reaped
                found.append(int(entry.name))
    return sorted(found)


def gunicorn_workers() -> list[int]:
    """The master is our own child (bench/track.py starts it); its children are the workers."""
    masters = [p for p in children(os.getpid()) if "gunicorn" in pgcluster.cmdline(p)]
    return children(masters[0]) if masters else []


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_for_workers(count: int, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(workers := gunicorn_workers()) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return workers


# --- The books ----------------------------------------------------------------------------------


def debits_by_key(prefix: str) -> Counter[str]:
    from django.db.models import Count

    from tryon.models import TryOnEvent

    rows = TryOnEvent.objects.filter(debited=True, product_title__startswith=prefix).values("product_title")
    return Counter(dict(rows.annotate(n=Count("id")).values_list("product_title", "n")))


def books(env: dict[str, str]) -> tuple[str, list[str]]:
    """(figures, problems) of every store and usage period in the database."""
    from django.db import connections
    from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum, Value
    from django.db.models.functions import Coalesce

    from quotas.models import UsagePeriod
    from stores.models import CreditLedgerEntry, CreditPack, Store
    from tryon.models import TryOnEvent

    connections.close_all()  # the database may have restarted under our connection
    ledger: dict[tuple[int, str], int] = {}
    for store_id, kind, total in CreditLedgerEntry.objects.values_list("store_id", "kind").annotate(t=Sum("delta")):
        ledger[store_id, kind] = total
    debited = TryOnEvent.objects.filter(debited=True)
    debits = dict(debited.values("store_id").annotate(n=Count("id")).values_list("store_id", "n"))
    problems: list[str] = []
    stores = list(Store.objects.values_list("pk", "public_id", "credit_balance"))
    for pk, public_id, balance in stores:
        topups, expiries = ledger.pop((pk, "topup"), 0), -ledger.pop((pk, "expiry"), 0)
        other = sum(v for (s, _), v in ledger.items() if s == pk)  # adjustments and refunds, if any
        if topups - expiries + other - debits.get(pk, 0) != balance:
            problems.append(
                f"store {public_id}: top-ups {topups} − expiries {expiries} + other {other} − debits {debits.get(pk, 0)} != balance {balance}"
            )
    in_period = debited.filter(
        end_customer_id=OuterRef("customer_id"),
        created_at__gte=OuterRef("period_start"),
        created_at__lt=OuterRef("period_end"),
    )
    events = Subquery(in_period.order_by().values("end_customer_id").annotate(n=Count("id")).values("n"))
    periods = list(UsagePeriod.objects.annotate(events=Coalesce(events, Value(0), output_field=IntegerField())))
    off_stores = len(problems)
    problems += [
        f"usage period {p.pk}: used {p.used} != debited events {p.events}" for p in periods if p.used != p.events
    ]
    off_periods = len(problems) - off_stores
    negative = {
        "store balance": Store.objects.filter(credit_balance__lt=0).count(),
        "pack remaining": CreditPack.objects.filter(remaining__lt=0).count(),
        "usage used": UsagePeriod.objects.filter(used__lt=0).count(),
    }
    problems += [f"{n} {name} below zero" for name, n in negative.items() if n]
    twice = sorted((k, n) for k, n in debits_by_key(KEY_PREFIX).items() if n > 1)
    problems += [f"key {k} charged {n} times" for k, n in twice]
    audit = db.audit(env)
    connections.close_all()
    figures = (
        f"stores {len(stores)} (top-ups − expiries − debits != balance: {off_stores}), usage periods {len(periods)} "
        f"(used != debited events: {off_periods}), below zero {sum(negative.values())}, keys charged twice "
        f"(whole run) {len(twice)}, audit_credits {'clean' if not audit else f'{len(audit)} drift(s)'}"
    )
    return figures, problems + audit


# --- Scenarios ----------------------------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    env: dict[str, str]
    cluster: pgcluster.Cluster
    port: int
    seeded: db.Seed
    seed_file: Path
    log: Path
    known: set[str] = field(default_factory=set)  # books problems already reported by a scenario


@dataclass
class Result:
    name: str
    summary: str = ""
    figures: list[str] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(ok for _, ok in self.checks)

    def check(self, label: str, ok: bool) -> None:
        self.checks.append((label, ok))


def tally(attempts: list[Attempt]) -> str:
    counts = Counter(a.kind for a in attempts)
    return ", ".join(f"{kind}×{n}" for kind, n in sorted(counts.items())) or "none"


def max_ms(attempts: list[Attempt]) -> float:
    return max((a.end - a.start for a in attempts), default=0.0) * 1000


def funded_store(tag: str, credits: int) -> tuple[str, str]:
    """A store of its own with exactly `credits`, through the project's services: (public_id, key)."""
    from stores.services import COMMAND, api_key_create, credit_topup, store_create

    store = store_create(name=f"Faults {tag}", owner_email=f"{tag}@faults.example")
    _, key = api_key_create(store=store, label="faults")
    credit_topup(store=store, credits=credits, actor=COMMAND, note="faults")
    return store.public_id, key


def store_figures(public_id: str) -> tuple[int, int]:
    """(balance, debited events) of one store."""
    from stores.models import Store
    from tryon.models import TryOnEvent

    store = Store.objects.get(public_id=public_id)
    return store.credit_balance, TryOnEvent.objects.filter(store=store, debited=True).count()


def overdraft(ctx: Context, result: Result) -> None:
    k, m = ctx.args.credits, ctx.args.extra
    store, key = funded_store("overdraft", k)
    attempts = burst(ctx.port, [shot(f"{KEY_PREFIX}overdraft-{n}", key, store) for n in range(k + m)])
    kinds = Counter(a.kind for a in attempts)
    balance, events = store_figures(store)
    remaining = {json.loads(a.body)["remaining_credits"] for a in attempts if a.kind == "200"}
    result.figures += [f"{k + m} concurrent requests, {k} credits, {ctx.args.workers} workers: {tally(attempts)}"]
    result.figures += [f"max latency {max_ms(attempts):.0f} ms; balance {balance}; debited events {events}"]
    result.figures += [f"distinct remaining_credits in the 200s: {len(remaining)} (expected {k}: 0…{k - 1})"]
    result.check(f"exactly {k} × 200", kinds["200"] == k)
    result.check(f"the other {m} are 402 credit_limit_reached", kinds["402 credit_limit_reached"] == m)
    result.check("balance 0 and debited events == K", balance == 0 and events == k)
    result.summary = f"200×{kinds['200']} 402×{kinds['402 credit_limit_reached']} balance {balance}"


def storm(ctx: Context, result: Result, copies: int = 100, credits: int = 100) -> None:
    store, key = funded_store("storm", credits)
    one = shot(f"{KEY_PREFIX}storm-0", key, store)
    attempts = burst(ctx.port, [one] * copies)
    again = send(ctx.port, one)  # after the storm: the key must replay the same answer
    kinds = Counter(a.kind for a in attempts)
    bodies = {json.dumps(json.loads(a.body), sort_keys=True) for a in [*attempts, again] if a.kind == "200"}
    balance, events = store_figures(store)
    conflicts = kinds["409 idempotency_conflict"]
    result.figures += [f"{copies} concurrent requests, one key, one body: {tally(attempts)}"]
    result.figures += [f"replayed: {sum(a.replayed for a in attempts)}; 409 idempotency_conflict: {conflicts}"]
    result.figures += [
        f"distinct 200 bodies (with a replay after the storm): {len(bodies)}; max latency {max_ms(attempts):.0f} ms"
    ]
    result.figures += [f"debited events {events}; balance {balance} of {credits}"]
    result.check("exactly one debit", events == 1 and balance == credits - 1)
    result.check(
        f"all {copies} answers 200 with one identical body (a 409 fails this)",
        kinds["200"] == copies and len(bodies) == 1,
    )
    result.check("the replay after the storm is that body", again.kind == "200" and again.replayed)
    result.summary = f"debits {events}, 200×{kinds['200']} 409×{conflicts}, bodies {len(bodies)}"


def seeded_shots(seeded: db.Seed, tag: str, tokens: bool = True) -> Callable[[int], Shot]:
    """Key n: odd ones with a shopper's session token (so usage periods move too), even ones without."""
    stores, people = seeded["track"]["stores"], seeded["track"]["customers"]

    def make(n: int) -> Shot:
        key = f"{KEY_PREFIX}{tag}-{n}"
        if tokens and n % 2:
            c = people[n // 2 % len(people)]
            return shot(key, c["key"], c["store"], c["public_id"], c["token"])
        s = stores[n // 2 % len(stores)]
        return shot(key, s["key"], s["public_id"])

    return make


@dataclass
class Fault:
    name: str
    at: float
    recovered: float


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def judge_keys(result: Result, tag: str, run: Run, settled: str) -> None:
    """Per key: answered 200 → exactly one debit; otherwise answered → none; unresolved → at most one."""
    charged = debits_by_key(f"{KEY_PREFIX}{tag}-")
    final = run.final
    ok = [k for k, a in final.items() if a.status == 200]
    unresolved = run.unresolved()
    twice = sorted(k for k, n in charged.items() if n > 1)
    wrong_200 = [k for k in ok if charged[k] != 1]
    refused_charged = [k for k, a in final.items() if not a.retryable and a.status != 200 and charged[k]]
    fives = [a for a in run.attempts if a.status >= 500 and a.kind != "503 unavailable"]
    last = Counter(final[k].kind for k in unresolved)
    result.figures += [
        f"keys: {len(final)}; answered 200: {len(ok)}; other answers: {len(final) - len(ok) - len(unresolved)}",
        f"{settled} (last answers: {', '.join(f'{k}×{n}' for k, n in last.items()) or 'none'})",
        f"attempts: {len(run.attempts)}: {tally(run.attempts)}",
        f"transport errors (all retried): {sum(a.kind in TRANSPORT for a in run.attempts)}; max latency {max_ms(run.attempts):.0f} ms",
    ]
    result.figures += [
        f"debited events {sum(charged.values())}; keys charged twice {len(twice)}{f' e.g. {twice[:3]}' if twice else ''}; unresolved keys charged {sum(charged[k] > 0 for k in unresolved)}"
    ]
    result.check("no 500 (or any 5xx but 503 unavailable)", not fives)
    result.check("zero keys charged twice", not twice)
    result.check(
        "debited events == keys answered 200 (each once)",
        sum(charged.values()) == len(ok) and not wrong_200 and not refused_charged,
    )


def db_restart(ctx: Context, result: Result) -> None:
    seconds, faults = ctx.args.load_seconds, []
    start = time.monotonic()

    def inject() -> None:
        sleep_until(start + 0.2 * seconds)
        at = time.monotonic()
        ctx.cluster.restart()
        faults.append(Fault("restart -m fast", at, time.monotonic()))
        sleep_until(start + 0.45 * seconds)
        at = time.monotonic()
        ctx.cluster.stop()
        time.sleep(5.0)
        ctx.cluster.start()
        faults.append(Fault("5 s outage", at, time.monotonic()))

    run = retrying_load(ctx.port, seeded_shots(ctx.seeded, "db-restart"), ctx.args.clients, seconds, inject)
    settled = settle(ctx.port, run, ctx.args.settle_seconds)
    result.figures += [f"{ctx.args.clients} retrying clients for {seconds:g} s"]
    judge_keys(result, "db-restart", run, settled)
    allowed = {"200", "402 credit_limit_reached", "503 unavailable", *TRANSPORT}
    others: list[Attempt] = []
    for f in faults:
        during = [a for a in run.attempts if f.at <= a.start <= f.recovered]
        others += [a for a in during if a.kind not in allowed]
        after = [
            a.end - f.recovered for a in run.attempts if a.status == 200 and a.start >= f.at and a.end >= f.recovered
        ]
        first = min(after, default=float("inf"))
        result.figures += [
            f"{f.name}: down {f.recovered - f.at:.1f} s; during: {tally(during)}; first 200 {first:.2f} s after recovery"
        ]
        result.check(f"a 200 within {RECOVERY_SECONDS:g} s after the {f.name}", first <= RECOVERY_SECONDS)
    result.check(f"during the faults, errors only 503 unavailable (others: {tally(others)})", not others)
    result.summary = summarize(run, "db-restart")


def summarize(run: Run, tag: str) -> str:
    kinds = Counter(a.kind for a in run.attempts)
    twice = sum(n > 1 for n in debits_by_key(f"{KEY_PREFIX}{tag}-").values())
    return (
        f"keys {len(run.final)}, charged twice {twice}, unresolved {len(run.unresolved())}, "
        f"503×{kinds['503 unavailable']} 409×{kinds['409 idempotency_conflict']} "
        f"resets×{sum(kinds[t] for t in TRANSPORT)}"
    )


def worker_kill(ctx: Context, result: Result) -> None:
    seconds, faults = ctx.args.load_seconds, []
    start = time.monotonic()
    before = gunicorn_workers()

    def inject() -> None:
        for n, share in enumerate((0.25, 0.6)):
            sleep_until(start + share * seconds)
            workers = gunicorn_workers()
            if workers:
                victim = workers[n % len(workers)]
                at = time.monotonic()
                os.kill(victim, signal.SIGKILL)  # a worker of the gunicorn we started
                faults.append(Fault(f"SIGKILL worker {victim}", at, at))

    run = retrying_load(ctx.port, seeded_shots(ctx.seeded, "worker-kill"), ctx.args.clients, seconds, inject)
    settled = settle(ctx.port, run, ctx.args.settle_seconds)
    after = wait_for_workers(ctx.args.workers)
    result.figures += [
        f"{ctx.args.clients} retrying clients for {seconds:g} s; killed: {', '.join(f.name.split()[-1] for f in faults)}"
    ]
    result.figures += [f"workers before {before}, after {after}"]
    judge_keys(result, "worker-kill", run, settled)
    result.check(f"{len(faults)} worker(s) killed and replaced", len(faults) == 2 and len(after) == ctx.args.workers)
    result.summary = summarize(run, "worker-kill")


def peak_rps(ctx: Context) -> float:
    """A short closed-loop run of bench/loadgen.py (legacy mode, 8 connections)."""
    args = argparse.Namespace(duration=5.0, warmup=1.0, connections=8)
    return float(track.load(args, ctx.seed_file, "track", "legacy", ctx.port)["rps"])


def paced(port: int, make: Callable[[int], Shot], rps: float, seconds: float, threads: int = 8) -> list[Attempt]:
    """Open loop: request n is due at start + n / rps; `threads` senders take them in turn."""
    out: list[Attempt] = []
    tickets, start = itertools.count(), time.monotonic()
    total, hard_stop = int(rps * seconds), start + seconds + 10

    def sender() -> None:
        while (n := next(tickets)) < total and time.monotonic() < hard_stop:
            sleep_until(start + n / rps)
            out.append(send(port, make(n)))

    pool = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=seconds + 10 + REQUEST_TIMEOUT)
    return out


def soak(ctx: Context, result: Result) -> None:
    seconds = ctx.args.soak_seconds
    peak = 0.0 if ctx.args.soak_rps else peak_rps(ctx)
    rps = ctx.args.soak_rps or peak / 2
    result.figures += [f"target {rps:.1f} req/s: " + (f"half the peak of {peak:.1f}" if peak else "--soak-rps")]
    workers = gunicorn_workers()
    rss_start = {pid: rss_kb(pid) for pid in workers}
    # The seeded session tokens live an hour: past ~45 minutes the soak sends legacy requests only.
    make = seeded_shots(ctx.seeded, "soak", tokens=seconds < 2700)
    t0 = time.monotonic()
    attempts = paced(ctx.port, make, rps, seconds)
    elapsed = time.monotonic() - t0
    now = gunicorn_workers()
    rss_end = {pid: rss_kb(pid) for pid in now if pid in rss_start}
    growth = {pid: rss_end[pid] / rss_start[pid] - 1 for pid in rss_end if rss_start[pid]}
    errors = [a for a in attempts if a.status != 200]
    latencies = sorted(a.end - a.start for a in attempts)
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000 if latencies else 0.0
    result.figures += [
        f"{len(attempts)} requests in {elapsed:.0f} s: {len(attempts) / elapsed:.1f} req/s (target {rps:.1f}); {tally(attempts)}"
    ]
    result.figures += [f"p99 {p99:.0f} ms, max {max_ms(attempts):.0f} ms; errors {len(errors)}"]
    result.figures += [
        f"worker {pid} RSS {rss_start[pid] / 1024:.1f} → {rss_end.get(pid, 0) / 1024:.1f} MB ({growth.get(pid, 0) * 100:+.1f} %)"
        for pid in workers
    ]
    charged = debits_by_key(f"{KEY_PREFIX}soak-")
    result.check("no errors", not errors)
    result.check("no worker's RSS grew by more than 50 %", all(g <= 0.5 for g in growth.values()))
    result.check("the same workers at the end (none died)", sorted(now) == sorted(workers))
    result.check(
        "debited events == 200 answers, none twice",
        sum(charged.values()) == len(attempts) - len(errors) and max(charged.values(), default=0) <= 1,
    )
    result.summary = f"{len(attempts) / elapsed:.0f} req/s, errors {len(errors)}, max RSS growth {max(growth.values(), default=0) * 100:+.0f} %"


RUNNERS: dict[str, Callable[[Context, Result], None]] = {
    "overdraft": overdraft,
    "storm": storm,
    "db-restart": db_restart,
    "worker-kill": worker_kill,
    "soak": soak,
}


def tracebacks_since(log: Path, offset: int) -> int:
    with log.open("rb") as f:
        f.seek(offset)
        return f.read().count(b"Traceback")


def run_scenario(ctx: Context, name: str) -> Result:
    result = Result(name)
    print(f"\n== {name}", flush=True)
    offset = ctx.log.stat().st_size
    try:
        RUNNERS[name](ctx, result)
    except Exception as error:  # a broken harness step fails this scenario, not the whole run
        result.check(f"ran to the end ({type(error).__name__}: {error})", False)
        result.summary = result.summary or f"crashed: {type(error).__name__}"
    if ctx.cluster.postmaster_pid() is None:
        ctx.cluster.start()  # a scenario that failed mid-outage must not take the next ones down
    figures, problems = books(ctx.env)
    new = [p for p in problems if p not in ctx.known]
    ctx.known.update(problems)
    result.figures += [f"books: {figures}", *(f"books problem: {p}" for p in new[:10])]
    if len(problems) > len(new):  # reported (and failed) by an earlier scenario already
        result.figures += [f"books: {len(problems) - len(new)} problem(s) carried over from earlier scenarios"]
    result.check("books balance (no new problem)", not new)
    result.figures += [f"server tracebacks in gunicorn's log: {tracebacks_since(ctx.log, offset)}"]
    for line in result.figures:
        print(f"  {line}")
    for label, ok in result.checks:
        print(f"  [{'ok' if ok else 'FAIL'}] {label}")
    print(f"{'PASS' if result.passed else 'FAIL'} {name}", flush=True)
    return result


# --- Main ---------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=SCENARIOS, help="run only this scenario (repeatable)")
    parser.add_argument(
        "--skip", action="append", choices=SCENARIOS, default=[], help="skip this scenario (repeatable)"
    )
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    parser.add_argument("--soak-rps", type=float, default=0.0, help="default: half the peak measured first")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (≥ 3)")
    parser.add_argument("--clients", type=int, default=8, help="retrying clients of db-restart and worker-kill")
    parser.add_argument("--load-seconds", type=float, default=24.0, help="load of db-restart and worker-kill")
    parser.add_argument("--settle-seconds", type=float, default=70.0, help="retrying unresolved keys afterwards")
    parser.add_argument("--credits", type=int, default=50, help="K: the overdraft store's credits")
    parser.add_argument("--extra", type=int, default=100, help="M: requests beyond K in the overdraft race")
    args = parser.parse_args()
    if args.workers < 3 or min(args.clients, args.credits, args.extra) < 1 or args.load_seconds < 12:
        parser.error("workers ≥ 3, clients, credits and extra ≥ 1, load-seconds ≥ 12")
    if args.soak_seconds <= 0 or args.settle_seconds < 0 or args.soak_rps < 0:
        parser.error("soak-seconds > 0, settle-seconds ≥ 0, soak-rps ≥ 0")
    return args


@contextmanager
def served(args: argparse.Namespace) -> Iterator[Context]:
    """The private cluster, its migrated and seeded database, and gunicorn on it; all stopped after."""
    with pgcluster.private_cluster(track.free_port()) as cluster:
        env = {**track.bench_env(), "DATABASE_URL": cluster.url(DB_NAME), "CACHE_URL": CACHE_URL}
        os.environ.update(env)
        print(f"Private PostgreSQL on 127.0.0.1:{cluster.port} ({cluster.root}); migrating {DB_NAME} …", flush=True)
        db.recreate(env, admin_url=cluster.url("postgres"), name=DB_NAME)
        import django

        django.setup()
        from django.db import connections

        seeded = db.seed(stores=4, customers=8)
        connections.close_all()
        seed_file = cluster.root / "seed.json"
        seed_file.write_text(json.dumps(seeded))
        log = cluster.root / "gunicorn.log"
        with track.gunicorn(env, track.Config("sync", args.workers), log) as port:
            print(f"gunicorn: {args.workers} sync workers on {HOST}:{port}", flush=True)
            yield Context(args, env, cluster, port, seeded, seed_file, log)


def print_summary(results: list[Result]) -> None:
    print(f"\n{'scenario':<13}{'result':<8}key figures")
    for r in results:
        print(f"{r.name:<13}{'PASS' if r.passed else 'FAIL':<8}{r.summary}")


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, track._terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even if started ignoring it
    chosen = [s for s in SCENARIOS if s in (args.only or SCENARIOS) and s not in args.skip]
    with served(args) as ctx:
        results = [run_scenario(ctx, name) for name in chosen]
    print_summary(results)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("Interrupted; gunicorn and the private cluster stopped.")
