"""Requests to the project's WSGI application in this process — the handler gunicorn calls,
middleware and all — for measurements that need no socket: profiles and statement counts."""

import io
import json
import sys
from collections.abc import Callable
from typing import Any

SECRET = "bench-secret"
_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")


def post_track(app: Callable[..., Any], body: dict[str, Any], idempotency_key: str | None = None) -> str:
    """POST /api/tryon/track through `app`; the status line."""
    raw = json.dumps(body).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/tryon/track",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(raw)),
        "HTTP_X_INTERNAL_SECRET": SECRET,
        "wsgi.input": io.BytesIO(raw),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    if idempotency_key is not None:
        environ["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
    status: list[str] = []
    for _ in app(environ, lambda line, headers: status.append(line)):
        pass
    return status[0]


def statements_per_request() -> dict[str, int]:
    """SQL statements of one warm request per mode (transaction control not counted, as in the
    spec's budget), on a probe store of its own that no load touches."""
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from quotas.services import end_customer_create, plan_create
    from quotas.sessions import session_mint
    from stores.services import COMMAND, api_key_create, credit_topup, store_create

    store = store_create(name="Bench probe", owner_email="probe@bench.example")
    _, key = api_key_create(store=store, label="probe")
    credit_topup(store=store, credits=100, actor=COMMAND)
    customer = end_customer_create(
        store=store, external_id="probe", plan=plan_create(store=store, name="P", monthly_try_ons=100)
    )
    token = session_mint(customer=customer, expires_in=3600).token
    app = get_wsgi_application()
    modes = {
        "legacy": ({"api_key": key}, None),
        "legacy + Idempotency-Key": ({"api_key": key}, "probe-1"),
        "per-customer": ({"api_key": key, "end_customer_token": token}, None),
        "per-customer + Idempotency-Key": ({"api_key": key, "end_customer_token": token}, "probe-2"),
    }
    post_track(app, modes["per-customer"][0])  # warm: the key's last use, the signing-key cache
    counts = {}
    for mode, (body, idempotency_key) in modes.items():
        with CaptureQueriesContext(connection) as captured:
            assert post_track(app, body, idempotency_key).startswith("200")
        counts[mode] = sum(not q["sql"].lstrip().upper().startswith(_CONTROL) for q in captured.captured_queries)
    # The same with an endpoint subscribed to every event: the try-on row is the outbox.
    from stores.services import Actor
    from stores.webhooks.services import webhook_endpoint_create

    webhook_endpoint_create(store=store, url="http://127.0.0.1:9/probe", events=["*"], actor=Actor("bench"))
    for mode in ("legacy", "per-customer"):
        body, _ = modes[mode]
        with CaptureQueriesContext(connection) as captured:
            assert post_track(app, body).startswith("200")
        counts[f"{mode}, endpoint subscribed"] = sum(
            not q["sql"].lstrip().upper().startswith(_CONTROL) for q in captured.captured_queries
        )
    connection.close()
    return counts


def cpu_per_request(*, requests: int, rounds: int) -> dict[str, list[float]]:
    """CPU microseconds (this process's, so the other load on the machine counts little) per warm
    legacy track request through the whole WSGI application, with the metrics middleware and
    counters off and on, alternating `rounds` times on a probe store of its own. In-process values
    (no PROMETHEUS_MULTIPROC_DIR), where gunicorn writes them to mmap'd files."""
    import time

    from django.conf import settings
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test.utils import override_settings

    from stores.services import COMMAND, api_key_create, credit_topup, store_create

    store = store_create(name="Bench CPU probe", owner_email="cpu-probe@bench.example")
    _, key = api_key_create(store=store, label="cpu-probe")
    credit_topup(store=store, credits=2 * rounds * (requests + 50), actor=COMMAND)
    without = [m for m in settings.MIDDLEWARE if m != "genvoris.metrics.MetricsMiddleware"]
    variants = {
        "off": override_settings(METRICS_ENABLED=False, MIDDLEWARE=without),
        "on": override_settings(METRICS_ENABLED=True),
    }
    cpu: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(rounds):
        for state, variant in variants.items():
            with variant:
                app = get_wsgi_application()  # builds the middleware chain of these settings
                for _ in range(50):
                    post_track(app, {"api_key": key})
                started = time.process_time()
                for _ in range(requests):
                    status = post_track(app, {"api_key": key})
                    assert status.startswith("200"), status
                cpu[state].append((time.process_time() - started) / requests * 1e6)
    connection.close()
    return cpu
