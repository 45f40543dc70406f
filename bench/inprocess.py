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
