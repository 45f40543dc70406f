"""A stand-in web worker for tryon/tests/test_track_faults.py, run as its own process so that the
test can SIGKILL it in the middle of a try-on, exactly where a real worker could die.

    python -m tryon.tests.track_worker seed
    python -m tryon.tests.track_worker track KEY IDEMPOTENCY_KEY [--hang before|after|committed] [--later S]
    python -m tryon.tests.track_worker books STORE_ID

`track` serves one POST /api/tryon/track through Django's full request handler (middleware, view,
service). With `--hang`, it stops for good — printing HANGING first — just before the statement
that binds the Idempotency-Key (the debit's statements have run), just after it (COMMIT is next),
or once the transaction has committed and before the answer is sent. Each mode prints one JSON line.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import django
import time_machine

BIND_SQL = 'INSERT INTO "tryon_idempotencyrecord"'
SECRET = "test-internal-secret"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["seed", "track", "books"])
    parser.add_argument("args", nargs="*")
    parser.add_argument("--hang", choices=["before", "after", "committed"])
    parser.add_argument("--later", type=int, default=0, help="run this many seconds in the future")
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genvoris.test_settings")
    django.setup()
    modes: dict[str, Callable[..., dict[str, Any]]] = {"seed": seed, "track": track, "books": books}
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=options.later)):
        print(json.dumps(modes[options.mode](*options.args, hang=options.hang)), flush=True)


def seed(*, hang: str | None) -> dict[str, Any]:
    from stores.services import COMMAND, api_key_create, credit_topup, store_create

    store = store_create(name="Killed worker shop", owner_email="killed@example.com")
    _, key = api_key_create(store=store, label="worker")
    credit_topup(store=store, credits=10, actor=COMMAND)
    return {"store": store.pk, "key": key}


def track(key: str, idempotency_key: str, *, hang: str | None) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    with connection.execute_wrapper(_hanging(hang)):
        response = Client().post(
            "/api/tryon/track",
            data={"api_key": key},
            content_type="application/json",
            headers={"x-internal-secret": SECRET, "Idempotency-Key": idempotency_key},
        )
    return {"status": response.status_code, "body": response.json(), "replayed": "Idempotent-Replayed" in response}


def _hanging(hang: str | None) -> Callable[..., Any]:
    from django.db import transaction

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if hang == "before" and sql.startswith(BIND_SQL):
            _hang()
        result = execute(sql, params, many, context)
        if hang == "after" and sql.startswith(BIND_SQL):
            _hang()
        if hang == "committed" and sql.startswith(BIND_SQL):
            transaction.on_commit(_hang)
        return result

    return wrapper


def _hang() -> None:
    print("HANGING", flush=True)
    time.sleep(120)
    sys.exit("not killed in time")


def books(store_id: str, *, hang: str | None) -> dict[str, Any]:
    from stores.models import Store
    from tryon.models import IdempotencyRecord, TryOnEvent

    return {
        "balance": Store.objects.get(pk=store_id).credit_balance,
        "debited": TryOnEvent.objects.filter(store_id=store_id, debited=True).count(),
        "records": IdempotencyRecord.objects.filter(store_id=store_id).count(),
    }


if __name__ == "__main__":
    main()
