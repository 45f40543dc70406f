"""Benchmark the webhook worker: deliveries per second to a local receiver, and what one slow
endpoint does to everybody else's.

Run from the project root, with PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres):

    .venv/bin/python bench/webhooks.py [--deliveries 2000 --endpoints 50 --concurrency 1,4,8,16]

It recreates the database genvoris_bench_webhooks, makes `--endpoints` stores with an endpoint
each on a receiver served by this process on 127.0.0.1, writes the events through the outbox and
lets `manage.py deliver_webhooks --once` (a process of its own, like production) deliver them all,
once per concurrency. It prints deliveries/s and the worker's own figures. Then the same with one
more endpoint that takes `--slow-seconds` to answer each of its 20 deliveries: the time until
every other delivery has arrived, beside the time without it.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import db

DB_NAME = "genvoris_bench_webhooks"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"


class Arrivals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}

    def add(self, path: str) -> None:
        with self.lock:
            self.times.setdefault(path, []).append(time.monotonic())

    def clear(self) -> None:
        with self.lock:
            self.times.clear()


def receiver(arrivals: Arrivals, slow_seconds: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/slow"):
                time.sleep(slow_seconds)
            arrivals.add(self.path.split("/")[1])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def seed(port: int, *, endpoints: int, deliveries: int) -> None:
    from django.utils import timezone

    from stores.models import Store, WebhookEvent
    from stores.services import Actor
    from stores.webhooks.services import webhook_endpoint_create
    from stores.webhooks.worker import webhooks_dispatch

    stores = []
    for n in range(endpoints):
        store = Store.objects.create(name=f"Hooks {n}")
        webhook_endpoint_create(
            store=store, url=f"http://127.0.0.1:{port}/fast/{n}", events=["*"], actor=Actor("bench")
        )
        stores.append(store)
    WebhookEvent.objects.bulk_create(
        WebhookEvent(store=stores[i % endpoints], type="credit.balance_added", data={"credits": i, "balance": i})
        for i in range(deliveries)
    )
    webhooks_dispatch(now=timezone.now())


def add_slow(port: int, count: int = 20) -> None:
    from django.utils import timezone

    from stores.models import Store, WebhookEvent
    from stores.services import Actor
    from stores.webhooks.services import webhook_endpoint_create
    from stores.webhooks.worker import webhooks_dispatch

    store = Store.objects.create(name="Slow")
    webhook_endpoint_create(store=store, url=f"http://127.0.0.1:{port}/slow", events=["*"], actor=Actor("bench"))
    WebhookEvent.objects.bulk_create(
        WebhookEvent(store=store, type="credit.balance_added", data={"n": i}) for i in range(count)
    )
    webhooks_dispatch(now=timezone.now())


def reset_deliveries() -> None:
    from django.utils import timezone

    from stores.models import WebhookAttempt, WebhookDelivery

    WebhookAttempt.objects.all().delete()
    WebhookDelivery.objects.update(status="pending", attempts=0, next_attempt_at=timezone.now(), resend_base=0)


def deliver(env: dict[str, str], concurrency: int) -> tuple[float, dict[str, Any]]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "deliver_webhooks", "--once", "--json", "--concurrency", str(concurrency)],
        cwd=db.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        sys.exit(f"deliver_webhooks failed:\n{done.stderr}")
    return time.monotonic() - started, json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=50)
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    args = parser.parse_args()
    env = {
        **os.environ,
        "DATABASE_URL": DB_URL,
        "SECRET_KEY": "bench",
        "DEBUG": "false",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "genvoris.settings",
        "PYTHONPATH": str(db.ROOT),
    }
    os.environ.update(env)
    print(f"Recreating and migrating {DB_NAME} …", flush=True)
    db.recreate(env, name=DB_NAME)
    import django

    django.setup()
    from django.db import connections

    arrivals = Arrivals()
    server = receiver(arrivals, args.slow_seconds)
    port = server.server_address[1]
    seed(port, endpoints=args.endpoints, deliveries=args.deliveries)
    connections.close_all()
    levels = [int(c) for c in args.concurrency.split(",") if c]
    print(f"\n{args.deliveries} deliveries over {args.endpoints} endpoints, to a receiver on 127.0.0.1:{port}")
    print(f"{'concurrency':>12}{'seconds':>10}{'deliveries/s':>14}{'succeeded':>11}")
    fast_alone: dict[int, float] = {}
    for level in levels:
        reset_deliveries()
        arrivals.clear()
        elapsed, result = deliver(env, level)
        fast_alone[level] = elapsed
        print(f"{level:>12}{elapsed:>10.2f}{result['succeeded'] / elapsed:>14.1f}{result['succeeded']:>11}")
    add_slow(port)
    connections.close_all()
    print(f"\nWith one more endpoint answering in {args.slow_seconds:g} s (20 deliveries):")
    print(f"{'concurrency':>12}{'others done s':>15}{'without slow s':>16}{'slow done s':>13}")
    for level in levels:
        reset_deliveries()
        arrivals.clear()
        started = time.monotonic()
        deliver(env, level)
        fast_last = max(t for ts in [arrivals.times.get("fast", [])] for t in ts) - started
        slow_last = max(arrivals.times.get("slow", [started])) - started
        print(f"{level:>12}{fast_last:>15.2f}{fast_alone[level]:>16.2f}{slow_last:>13.2f}")
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
