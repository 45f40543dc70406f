"""The bench database: made fresh, seeded through the project's services, audited after the load.

`seed` and `verify` import the project's models, so they run only after `django.setup()`.
"""

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# BENCH_DB_NAME: another database of the same server, so two people benchmarking at once do not
# drop each other's.
DB_NAME = os.environ.get("BENCH_DB_NAME", "genvoris_bench")
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
SIDES = ("track", "baseline")  # our endpoint's stores, and the raw-SQL baseline's separate ones
CREDITS = 1_000_000  # per store: the load never runs a store dry
QUOTA = 1_000_000  # per customer and period: nor a customer

Seed = dict[str, dict[str, list[dict[str, str]]]]


def run(cmd: list[str], env: dict[str, str]) -> str:
    """Run a command to completion; its stdout, or exit with its stderr."""
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr or done.stdout}")
    return done.stdout


def recreate(env: dict[str, str], admin_url: str = ADMIN_URL, name: str = DB_NAME) -> None:
    """Drop and create the bench database (on another server with `admin_url`), then migrate it."""
    for sql in (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"):
        run(["psql", admin_url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], env)
    run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env)


def seed(*, stores: int, customers: int) -> Seed:
    """Per side: stores with a key, credits and a plan; customers spread over them with a session token."""
    from quotas.services import end_customer_create, plan_create
    from quotas.sessions import session_mint
    from stores.services import COMMAND, api_key_create, credit_topup, store_create

    seeded: Seed = {}
    for side in SIDES:
        rows, plans = [], []
        for n in range(stores):
            store = store_create(name=f"Bench {side} {n}", owner_email=f"{side}-{n}@bench.example")
            _, key = api_key_create(store=store, label="bench")
            credit_topup(store=store, credits=CREDITS, actor=COMMAND, note="bench")
            plans.append(plan_create(store=store, name="Bench", monthly_try_ons=QUOTA))
            rows.append({"public_id": store.public_id, "key": key})
        people = []
        for n in range(customers):
            plan, row = plans[n % stores], rows[n % stores]
            customer = end_customer_create(store=plan.store, external_id=f"{side}-{n}", plan=plan)
            token = session_mint(customer=customer, expires_in=3600).token
            people.append(
                {"public_id": customer.public_id, "store": row["public_id"], "key": row["key"], "token": token}
            )
        seeded[side] = {"stores": rows, "customers": people}
    return seeded


def verify(seeded: Seed, ok_by_store: Counter[str], ok_by_customer: Counter[str]) -> list[str]:
    """Every credit and quota unit spent matches a 200 the load counted and a debited event."""
    from django.db.models import Count, QuerySet, Sum

    from quotas.models import UsagePeriod
    from stores.models import CreditPack, Store
    from tryon.models import TryOnEvent

    def by(rows: QuerySet[Any], field: str, total: Any) -> dict[str, int]:
        return dict(rows.values(field).annotate(n=total).values_list(field, "n"))

    debited = TryOnEvent.objects.filter(debited=True)
    balance = dict(Store.objects.values_list("public_id", "credit_balance"))
    events = by(debited, "store__public_id", Count("id"))
    used = by(UsagePeriod.objects.all(), "customer__public_id", Sum("used"))
    customer_events = by(debited.exclude(end_customer=None), "end_customer__public_id", Count("id"))
    problems = []
    for side, data in seeded.items():
        for store in data["stores"]:
            pid = store["public_id"]
            figures = (CREDITS - balance[pid], ok_by_store[pid], events.get(pid, 0))
            if len(set(figures)) != 1:
                problems.append(f"{side} store {pid}: credits spent, 200s, debited events = {figures}")
        for customer in data["customers"]:
            pid = customer["public_id"]
            figures = (used.get(pid, 0), ok_by_customer[pid], customer_events.get(pid, 0))
            if len(set(figures)) != 1:
                problems.append(f"{side} customer {pid}: usage, 200s, debited events = {figures}")
    negative = {
        "store balance": Store.objects.filter(credit_balance__lt=0),
        "pack remaining": CreditPack.objects.filter(remaining__lt=0),
        "usage used": UsagePeriod.objects.filter(used__lt=0),
    }
    problems += [f"{name} below zero" for name, rows in negative.items() if rows.exists()]
    return problems


def audit(env: dict[str, str]) -> list[str]:
    """`manage.py audit_credits --json` must exit 0 and report no drift."""
    done = subprocess.run(
        [sys.executable, "manage.py", "audit_credits", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        drift = json.loads(done.stdout)["drift"]
    except (ValueError, KeyError):
        return [f"audit_credits printed no report (exit {done.returncode}): {done.stderr.strip()}"]
    problems = [f"audit_credits: {d}" for d in drift]
    if done.returncode != 0 and not problems:
        problems.append(f"audit_credits exited {done.returncode}: {done.stderr.strip()}")
    return problems
