"""Track is exact when things fail (SPEC §3, docs/reliability.md): every failure leaves either
"nothing happened, the key is free" or "one debit, bound to its answer forever".

Each failure is injected, not argued: a database error at the bad moment, a COMMIT whose
acknowledgement is lost, a worker process SIGKILLed mid-transaction.
"""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, connection

from conftest import Persona, Track
from stores.models import Store
from tryon.models import IdempotencyRecord, TryOnEvent

pytestmark = pytest.mark.django_db(transaction=True)

BIND_SQL = 'INSERT INTO "tryon_idempotencyrecord"'
EVENT_SQL = 'INSERT INTO "tryon_tryonevent"'


def books(persona: Persona) -> tuple[int, int, int]:
    """(balance, debited events, idempotency records) of the persona's store."""
    return (
        Store.objects.get(pk=persona.store.pk).credit_balance,
        TryOnEvent.objects.filter(store=persona.store, debited=True).count(),
        IdempotencyRecord.objects.filter(store=persona.store).count(),
    )


@contextmanager
def failing(prefix: str) -> Iterator[None]:
    """The first statement starting with `prefix` fails as a dropped connection would."""
    state = {"failed": False}

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith(prefix) and not state["failed"]:
            state["failed"] = True
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield
    assert state["failed"], f"no statement started with {prefix}"


@pytest.mark.parametrize("prefix", [BIND_SQL, EVENT_SQL])
def test_a_database_error_inside_the_debit_transaction_debits_nothing(
    owner: Persona, track: Track, prefix: str
) -> None:
    body = {"api_key": owner.secret, "end_customer_token": owner.token()}
    with failing(prefix):
        response = track(body, HTTP_IDEMPOTENCY_KEY="gen-1")
    assert (response.status_code, response.json()["error"]) == (503, "unavailable")
    assert books(owner) == (100, 0, 0)  # rolled back whole: the key is free
    retry = track(body, HTTP_IDEMPOTENCY_KEY="gen-1")
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry
    assert books(owner) == (99, 1, 1)
    assert retry.json()["end_customer_quota"]["used"] == 1


def test_a_lost_commit_acknowledgement_is_replayed_not_charged_again(owner: Persona, track: Track) -> None:
    """The COMMIT reached the database, the answer to it did not: the caller cannot tell, so the
    503 must not say nothing was recorded, and the retry must get the committed answer."""
    real_commit = connection._commit

    def commit_then_lose_the_answer() -> None:
        real_commit()
        raise OperationalError("connection lost after COMMIT was sent")

    body = {"api_key": owner.secret}
    with mock.patch.object(connection, "_commit", side_effect=commit_then_lose_the_answer):
        lost = track(body, HTTP_IDEMPOTENCY_KEY="gen-2")
    assert lost.status_code == 503
    assert "nothing was recorded" not in json.dumps(lost.json())
    assert books(owner) == (99, 1, 1)
    retry = track(body, HTTP_IDEMPOTENCY_KEY="gen-2")
    assert (retry.status_code, retry["Idempotent-Replayed"]) == (200, "true")
    assert retry.json() == {"success": True, "remaining_credits": 99, "variation_count": 1}
    assert books(owner) == (99, 1, 1)


def test_a_402_whose_record_fails_is_not_half_recorded(owner: Persona, track: Track) -> None:
    Store.objects.filter(pk=owner.store.pk).update(credit_balance=0)
    with failing(BIND_SQL):
        assert track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="gen-3").status_code == 503
    assert not TryOnEvent.objects.filter(store=owner.store).exists()
    assert track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="gen-3").status_code == 402
    assert TryOnEvent.objects.filter(store=owner.store).count() == 1


# --- a worker killed mid-try-on, in a process of its own -----------------------------------------


@pytest.fixture
def worker_database(request: pytest.FixtureRequest) -> str:
    """A DATABASE_URL that a separate process can share with this test."""
    if connection.vendor == "sqlite":
        return f"sqlite:///{request.getfixturevalue('sqlite_db')}"
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def worker(database: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": database, "DJANGO_SETTINGS_MODULE": "genvoris.test_settings"}
    command = [sys.executable, "-m", "tryon.tests.track_worker", *args]
    return subprocess.Popen(command, cwd=Path(settings.BASE_DIR), env=env, stdout=subprocess.PIPE, text=True)


def run(database: str, *args: str) -> dict[str, Any]:
    process = worker(database, *args)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def kill_when_hanging(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "HANGING", line
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_worker_killed_before_commit_leaves_nothing_and_frees_the_key(worker_database: str, moment: str) -> None:
    shop = run(worker_database, "seed")
    kill_when_hanging(worker(worker_database, "track", shop["key"], "gen-k", "--hang", moment))
    assert run(worker_database, "books", str(shop["store"])) == {"balance": 10, "debited": 0, "records": 0}
    # Retried well past the old scheme's 60 s takeover window: one debit, never two.
    retry = run(worker_database, "track", shop["key"], "gen-k", "--later", "90")
    assert (retry["status"], retry["replayed"]) == (200, False)
    assert run(worker_database, "books", str(shop["store"])) == {"balance": 9, "debited": 1, "records": 1}


def test_a_worker_killed_after_commit_is_replayed(worker_database: str) -> None:
    shop = run(worker_database, "seed")
    kill_when_hanging(worker(worker_database, "track", shop["key"], "gen-c", "--hang", "committed"))
    assert run(worker_database, "books", str(shop["store"])) == {"balance": 9, "debited": 1, "records": 1}
    retry = run(worker_database, "track", shop["key"], "gen-c")
    assert retry == {
        "status": 200,
        "body": {"success": True, "remaining_credits": 9, "variation_count": 1},
        "replayed": True,
    }
    assert run(worker_database, "books", str(shop["store"])) == {"balance": 9, "debited": 1, "records": 1}
