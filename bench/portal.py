"""Time the merchant portal's pages on one store with a million try-on events.

Run from the project root, with PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres):

    .venv/bin/python bench/portal.py [--events 1000000 --days 90 --runs 7 --explain]

It recreates the database genvoris_portal_bench, migrates it, seeds one store through the
project's services (owner, keys, credits, plans, customers), then inserts the events in one
`INSERT … SELECT FROM generate_series` (in time order, as production appends them: about
11,000 a day, 90 % debited, 5 % failed, 5 % blocked, 200 products, a third with a customer).
Each page is then rendered in this process by Django's test client as the signed-in owner: one
warm-up, then the median (and the slowest) of `--runs` loads, in milliseconds of server time.
The overview and products pages are timed first without rollups (live from the events), then
`rollup_usage` runs (timed) and every page is timed. `--explain` prints EXPLAIN ANALYZE of the
slowest queries of the overview, events and analytics pages. The database is left for inspection.

Since issue 12 it also seeds the Analytics page's data in the same way: a million widget events
(`--widget-events`) of about 286,000 sessions, 100,000 orders (`--orders`) of those sessions, a
tenth of them returned, half the try-ons tied to a session, and times that page with 30 and 90 days.
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import db

DB_NAME = "genvoris_portal_bench"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
BUDGET_MS = 300  # issue 4: the overview and events pages render under this on a million events
BUDGETED = ("overview", "events", "analytics (30 days)")  # issue 12: Analytics too, with a million widget events
TITLES = [
    f"{adjective} {noun}"
    for adjective in ("Linen", "Merino", "Relaxed", "Pleated", "Oversized", "Cropped", "Tailored", "Vintage",
                      "Organic", "Quilted")
    for noun in ("shirt", "sweater", "denim jacket", "midi skirt", "blazer", "trench coat", "hoodie", "chinos",
                 "sundress", "cardigan", "parka", "polo", "tote bag", "sunglasses", "lounge chair", "throw blanket",
                 "table lamp", "sneakers", "ankle boots", "scarf")
]  # fmt: skip

EVENTS_SQL = """
INSERT INTO tryon_tryonevent (
    public_id, store_id, api_key_id, end_customer_id, product_type, product_title, page_url, origin,
    variation_count, generation_time_ms, success, outcome, reason, debited, created_at, widget_session_id
)
SELECT
    'tro_bench' || lpad(g::text, 17, '0'),
    %(store)s,
    (%(keys)s::bigint[])[(1 + g %% cardinality(%(keys)s::bigint[]))::int],
    CASE WHEN g %% 3 = 0 THEN (%(customers)s::bigint[])[(1 + g %% cardinality(%(customers)s::bigint[]))::int] END,
    (ARRAY['apparel', 'apparel', 'apparel', 'home', 'object', 'other'])[(1 + (g * 7) %% 6)::int],
    (%(titles)s::text[])[(1 + (g * 7919) %% cardinality(%(titles)s::text[]))::int],
    'https://shop.example/products/' || (g * 7919) %% cardinality(%(titles)s::text[]),
    'https://shop.example',
    (1 + g %% 4)::int,
    CASE WHEN o.outcome IN ('debited', 'failed') THEN 1500 + (random() * 6000)::int END,
    o.outcome <> 'failed',
    o.outcome,
    CASE WHEN o.outcome = 'end_customer_quota'
         THEN (ARRAY['quota_exhausted', 'quota_exhausted', 'no_plan', 'paused', 'cancelled'])[(1 + g %% 5)::int]
         ELSE '' END,
    o.outcome = 'debited',
    now() - %(days)s * interval '1 day' + (g::float8 / %(events)s) * %(days)s * interval '1 day',
    -- Half the try-ons belong to the widget session of their moment (WIDGET_SQL's session k).
    CASE WHEN g %% 2 = 0 AND %(sessions)s > 0
         THEN 'bs' || greatest(1, (g::float8 * %(sessions)s / %(events)s)::bigint) ELSE '' END
FROM generate_series(1::bigint, %(events)s::bigint) AS g,
LATERAL (
    SELECT CASE WHEN r < 0.90 THEN 'debited' WHEN r < 0.95 THEN 'failed'
                WHEN r < 0.98 THEN 'end_customer_quota' ELSE 'credit_limit_reached' END AS outcome
    FROM (SELECT random() + g * 0 AS r) AS roll
) AS o
"""


# Widget sessions k = 1..S spread over the days, each going 1 to 6 steps down the funnel (3.5 on
# average, so S = widget events / 3.5), on one of the 200 products.
STEP_TYPES = ["WIDGET_OPENED", "PHOTO_UPLOADED", "TRYON_GENERATED", "TRYON_VIEWED", "ADDED_TO_CART", "CLOSED"]
WIDGET_SQL = """
INSERT INTO tryon_widgetevent (store_id, session_id, event_type, product_id, product_title, page_url, metadata,
                               created_at)
SELECT
    %(store)s,
    'bs' || k,
    (%(steps)s::text[])[step],
    'sku-' || (k * 7919) %% cardinality(%(titles)s::text[]),
    (%(titles)s::text[])[(1 + (k * 7919) %% cardinality(%(titles)s::text[]))::int],
    'https://shop.example/products/' || (k * 7919) %% cardinality(%(titles)s::text[]),
    '{}'::jsonb,
    now() - %(days)s * interval '1 day' + (k::float8 / %(sessions)s) * %(days)s * interval '1 day'
        + step * interval '20 seconds'
FROM generate_series(1::bigint, %(sessions)s::bigint) AS k,
LATERAL generate_series(1, (1 + (k * 7) %% 6)::int) AS step
"""
# Orders j = 1..N, each of session k = j·S/N five minutes after it began: hard-attributed when that
# session had a try-on (even k·events/S… approximated by the session's parity), soft for every
# seventh of the others; one in ten in EUR; one in ten returned.
ORDERS_SQL = """
INSERT INTO tryon_conversion (public_id, store_id, platform, order_id, amount_cents, currency, product_id,
    product_title, session_id, email_hash, attribution_window_minutes, attribution, created_at)
SELECT
    'cnv_bench' || lpad(j::text, 17, '0'),
    %(store)s,
    'shopify',
    'bench-' || j,
    2000 + (j * 7919) %% 18000,
    CASE WHEN j %% 10 = 0 THEN 'EUR' ELSE 'USD' END,
    'sku-' || (k * 7919) %% cardinality(%(titles)s::text[]),
    (%(titles)s::text[])[(1 + (k * 7919) %% cardinality(%(titles)s::text[]))::int],
    'bs' || k,
    '',
    1440,
    CASE WHEN k %% 2 = 0 THEN 'hard' WHEN j %% 7 = 0 THEN 'soft' ELSE 'none' END,
    now() - %(days)s * interval '1 day' + (k::float8 / %(sessions)s) * %(days)s * interval '1 day'
        + interval '5 minutes'
FROM generate_series(1::bigint, %(orders)s::bigint) AS j,
LATERAL (SELECT greatest(1, (j::float8 * %(sessions)s / %(orders)s)::bigint) AS k) AS s
WHERE now() - %(days)s * interval '1 day' + (k::float8 / %(sessions)s) * %(days)s * interval '1 day'
      + interval '5 minutes' < now()
"""
RETURNS_SQL = """
INSERT INTO tryon_orderreturn (public_id, store_id, platform, order_id, refunded_amount_cents, currency, reason,
    conversion_id, created_at)
SELECT 'ret_bench' || lpad(id::text, 17, '0'), store_id, platform, order_id, amount_cents, currency, '', id,
       least(created_at + interval '3 days', now())
FROM tryon_conversion WHERE store_id = %(store)s AND id %% 10 = 0
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--widget-events", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7, help="timed loads per page, after one warm-up")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the slowest queries")
    parser.add_argument("--reuse", action="store_true", help="keep the database of the last run (no reseeding)")
    return parser.parse_args()


def setup_django(*, reuse: bool) -> None:
    env = {
        "DATABASE_URL": DB_URL,
        "SECRET_KEY": "bench",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver",
        "CACHE_URL": "locmemcache://bench",
        "DJANGO_SETTINGS_MODULE": "genvoris.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    if not reuse:
        admin = "postgres://postgres@127.0.0.1:5432/postgres"
        for sql in (f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", f"CREATE DATABASE {DB_NAME}"):
            db.run(["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], {**os.environ})
        db.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], {**os.environ})
    # DEBUG is off, as in production: the pages link to the hashed names collectstatic writes.
    db.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], {**os.environ})
    import django

    django.setup()


def seed(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection, transaction

    from quotas.services import end_customer_create, plan_create
    from stores.models import Store
    from stores.services import COMMAND, api_key_create, credit_topup, store_create

    started = time.perf_counter()
    store = store_create(name="Bench Boutique", owner_email="owner@bench.example", password="bench-password-1")
    keys = [api_key_create(store=store, label=label)[0].pk for label in ("Backend", "Staging")]
    credit_topup(store=store, credits=2_000_000, actor=COMMAND, note="Bench pack")
    plans = [plan_create(store=store, name=name, monthly_try_ons=n) for name, n in (("Basic", 20), ("Pro", 100))]
    customers = [
        end_customer_create(store=store, external_id=f"cus_{n:05}", plan=plans[n % 2]).pk for n in range(args.customers)
    ]
    print(
        f"seeded store, keys, credits, plans and {len(customers):,} customers in {time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # The ids inserted are the ones just created, so the per-row foreign-key triggers can be
        # skipped for the load (user postgres may); the constraints still stand for every later write.
        cursor.execute("SET LOCAL session_replication_role = replica")
        params = {"store": store.pk, "keys": keys, "customers": customers, "titles": TITLES, "days": args.days}
        sessions = round(args.widget_events / 3.5)
        cursor.execute(EVENTS_SQL, {**params, "events": args.events, "sessions": sessions})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tryon_tryonevent")
    print(f"inserted {args.events:,} events over {args.days} days in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        if sessions:
            cursor.execute(WIDGET_SQL, {**params, "sessions": sessions, "steps": STEP_TYPES})
            cursor.execute(ORDERS_SQL, {**params, "sessions": sessions, "orders": args.orders})
            cursor.execute(RETURNS_SQL, params)
    with connection.cursor() as cursor:
        for table in ("tryon_widgetevent", "tryon_conversion", "tryon_orderreturn"):
            cursor.execute(f"ANALYZE {table}")
    print(
        f"inserted ~{args.widget_events:,} widget events of {sessions:,} sessions, {args.orders:,} orders and "
        f"their returns in {time.perf_counter() - started:.1f} s"
    )
    return {"store": Store.objects.get(pk=store.pk)}


def timed(fetch: Callable[[], Any], runs: int) -> tuple[float, float]:
    fetch()  # warm-up: connection, template compilation, PostgreSQL's caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fetch()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def get(client: Any, path: str, params: dict[str, str] | None = None, *, csv_rows: int = 0) -> Callable[[], Any]:
    def fetch() -> Any:
        response = client.get(path, params or {})
        assert response.status_code == 200, (path, response.status_code)
        if csv_rows:  # the time to stream the first rows of the export
            lines = 0
            for chunk in response.streaming_content:
                lines += chunk.count(b"\n")
                if lines > csv_rows:
                    break
            response.close()
        return response

    return fetch


def pages(client: Any, store: Any) -> list[tuple[str, Callable[[], Any]]]:
    from django.urls import reverse

    from tryon.models import TryOnEvent
    from tryon.selectors import Cursor

    def url(name: str) -> str:
        return reverse(name, kwargs={"store_id": store.public_id})

    from django.utils import timezone

    middle = TryOnEvent.objects.filter(store=store).order_by("-created_at", "-id")[500_000]
    ninety_days_ago = (timezone.now().date() - timedelta(days=89)).isoformat()
    yesterday = (middle.created_at).date().isoformat()
    return [
        ("overview", get(client, url("portal-overview"))),
        ("events", get(client, url("portal-events"))),
        ("events, page at 500,000 (keyset)", get(client, url("portal-events"), {"after": Cursor.of(middle).encode()})),
        ("events, outcome=failed", get(client, url("portal-events"), {"outcome": "failed"})),
        ("events, one day", get(client, url("portal-events"), {"date_from": yesterday, "date_to": yesterday})),
        ("events, title search", get(client, url("portal-events"), {"q": "quilted parka"})),
        ("events.csv, first 1,000 rows", get(client, url("portal-events-csv"), csv_rows=1000)),
        ("products (30 days)", get(client, url("portal-products"))),
        ("products (90 days)", get(client, url("portal-products"), {"days": "90"})),
        ("customers", get(client, url("portal-customers"))),
        ("plans", get(client, url("portal-plans"))),
        ("keys", get(client, url("portal-keys"))),
        ("credits", get(client, url("portal-credits"))),
        ("analytics (30 days)", get(client, url("portal-analytics"))),
        ("analytics (90 days)", get(client, url("portal-analytics"), {"date_from": ninety_days_ago})),
        ("analytics.csv (90 days)", get(client, url("portal-analytics-csv"), {"date_from": ninety_days_ago})),
    ]


def report(rows: list[tuple[str, float, float]]) -> None:
    print(f"  {'page':<36} {'median ms':>10} {'max ms':>8}")
    for name, median, slowest in rows:
        flag = "  over budget" if name in BUDGETED and median >= BUDGET_MS else ""
        print(f"  {name:<36} {median:>10.1f} {slowest:>8.1f}{flag}")


def explain(client: Any, path: str) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    slowest = sorted(captured.captured_queries, key=lambda q: float(q["time"]), reverse=True)[:3]
    for query in slowest:
        print(f"\n-- {float(query['time']) * 1000:.1f} ms: {query['sql'][:400]}")
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
            print("\n".join(row[0] for row in cursor.fetchall()))


def main() -> None:
    args = parse_args()
    setup_django(reuse=args.reuse)
    if args.reuse:
        from django.db.models import Count

        from stores.models import Store

        store = Store.objects.annotate(n=Count("tryon_events")).get(name="Bench Boutique")
        print(f"reusing the bench store and its {store.n:,} events")  # type: ignore[attr-defined]
    else:
        store = seed(args)["store"]

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(get_user_model().objects.get(username="owner@bench.example"))
    all_pages = pages(client, store)

    from tryon.models import DailyFunnel, DailyOrders, DailyProductFunnel, DailyProductUsage, DailyUsage

    # A reused database keeps the last run's rollups.
    for model in (DailyUsage, DailyProductUsage, DailyFunnel, DailyProductFunnel, DailyOrders):
        model.objects.filter(store=store).delete()
    print(f"\nWithout rollups (every figure live from the events), {args.runs} runs:")
    report(
        [
            (name, *timed(fetch, args.runs))
            for name, fetch in all_pages
            if name.startswith(("overview", "products", "analytics"))
        ]
    )

    started = time.perf_counter()
    call_command("rollup_usage")
    print(f"\nrollup_usage over {args.days} days: {time.perf_counter() - started:.1f} s")

    print(f"\nWith rollups, {args.runs} runs:")
    results = [(name, *timed(fetch, args.runs)) for name, fetch in all_pages]
    report(results)
    if args.explain:
        explain(client, reverse("portal-overview", kwargs={"store_id": store.public_id}))
        explain(client, reverse("portal-events", kwargs={"store_id": store.public_id}))
        explain(client, reverse("portal-analytics", kwargs={"store_id": store.public_id}))
    over = [name for name, median, _ in results if name in BUDGETED and median >= BUDGET_MS]
    if over:
        sys.exit(f"over the {BUDGET_MS} ms budget: {', '.join(over)}")


if __name__ == "__main__":
    main()
