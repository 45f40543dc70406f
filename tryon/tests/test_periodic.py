"""`manage.py run_periodic`: every periodic job in one cron-able command (SPEC §20, issue 14)."""

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from conftest import INTERNAL_SECRET, Persona, Track, make_persona
from quotas.models import ShopperSession
from stores.models import CreditLedgerEntry, CreditPack, Store
from stores.tests.factories import give_credits
from tryon.models import DailyUsage, IdempotencyRecord
from tryon.selectors import credit_audit

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def periodic(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("run_periodic", "--json", *args, stdout=out)
    result: dict[str, Any] = json.loads(out.getvalue())
    for outcome in result.values():
        outcome.pop("seconds")
    return result


@pytest.mark.django_db
class TestOneRun:
    def test_every_job_runs_and_a_second_run_changes_nothing(self, owner: Persona, track: Track) -> None:
        with time_machine.travel(NOW, tick=False):
            give_credits(owner.store, 30, valid_days=10)
            assert track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="k-1").status_code == 200
            owner.token(owner.customer)  # a session, expired by the time the jobs run
        with time_machine.travel(NOW + timedelta(days=15), tick=False):
            first = periodic()
            assert first == {
                "expire_credit_packs": {"expired_packs": 1, "credits_expired": 29},  # the try-on took the 30th
                "rollup_usage": {"stores": 1, "days": 15, "skipped": 0},  # every finished day
                "prune_expired": {"idempotency_records": 1, "sessions": 1, "key_refusals": 0},
                "audit_credits": {"stores_checked": 1, "drift": []},
            }
            assert periodic() == {
                "expire_credit_packs": {"expired_packs": 0, "credits_expired": 0},
                "rollup_usage": {"stores": 1, "days": 1, "skipped": 0},  # the last day again, same figures
                "prune_expired": {"idempotency_records": 0, "sessions": 0, "key_refusals": 0},
                "audit_credits": {"stores_checked": 1, "drift": []},
            }
        # 130; the try-on took one from the 30-credit pack, whose other 29 expired.
        assert Store.objects.get(pk=owner.store.pk).credit_balance == 100
        assert not IdempotencyRecord.objects.exists()
        assert not ShopperSession.objects.exists()
        assert DailyUsage.objects.filter(store=owner.store, day=NOW.date()).get().debited == 1

    def test_only_runs_the_jobs_named(self, owner: Persona) -> None:
        assert list(periodic("--only", "audit_credits", "--only", "prune_expired")) == [
            "prune_expired",
            "audit_credits",
        ]

    def test_drift_exits_1_after_every_job_ran(self, owner: Persona) -> None:
        Store.objects.filter(pk=owner.store.pk).update(credit_balance=5)
        out = StringIO()
        with pytest.raises(CommandError, match="drift"):
            call_command("run_periodic", stdout=out)
        text = out.getvalue()
        assert "expire_credit_packs: expired_packs=0" in text
        assert f"{owner.store.public_id} balance_equals_live_packs: expected 100, found 5" in text

    def test_a_failing_job_does_not_stop_the_others(self, owner: Persona, monkeypatch: pytest.MonkeyPatch) -> None:
        from tryon.management.commands import run_periodic

        def broken() -> dict[str, Any]:
            raise RuntimeError("rollup table locked")

        monkeypatch.setitem(run_periodic.JOBS, "rollup_usage", broken)
        out = StringIO()
        with pytest.raises(CommandError, match="Failed: rollup_usage"):
            call_command("run_periodic", stdout=out)
        assert "rollup_usage: FAILED (RuntimeError: rollup table locked)" in out.getvalue()
        assert "audit_credits: 1 store(s) checked, 0 drift(s)" in out.getvalue()


# --- two runs at once, on PostgreSQL ----------------------------------------------------------------


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def run_periodic_process() -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "genvoris.test_settings"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_periodic", "--json"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
def test_two_runs_at_once_change_nothing_twice() -> None:
    with time_machine.travel(datetime.now(UTC) - timedelta(days=30), tick=False):
        shops = [make_persona(f"periodic-{n}", credits=10) for n in range(20)]
        for shop in shops:
            give_credits(shop.store, 25, valid_days=5)
    runs = [run_periodic_process() for _ in range(2)]
    results = []
    for run in runs:
        out, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
        results.append(json.loads(out))
    expired = [r["expire_credit_packs"] for r in results]
    assert sum(e["expired_packs"] for e in expired) == 20  # each pack written off by one run only
    assert sum(e["credits_expired"] for e in expired) == 20 * 25
    assert CreditLedgerEntry.objects.filter(kind=CreditLedgerEntry.Kind.EXPIRY).count() == 20
    assert CreditPack.objects.filter(expired_at__isnull=False).count() == 20
    assert all(Store.objects.get(pk=s.store.pk).credit_balance == 10 for s in shops)
    assert all(r["audit_credits"]["drift"] == [] for r in results)
    assert credit_audit()[1] == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
def test_the_audit_reads_one_snapshot_while_try_ons_are_debited() -> None:
    """Found: the audit's reads were separate statements, so a try-on debited between them showed
    as drift. Debits race the audit here; no run may report any."""
    shop = make_persona("audit-race", credits=1000)
    stop = threading.Event()
    debited: list[int] = []

    def debit() -> None:
        from django.test import Client

        client = Client()
        while not stop.is_set():
            response = client.post(
                "/api/tryon/track",
                {"api_key": shop.secret},
                content_type="application/json",
                HTTP_X_INTERNAL_SECRET=INTERNAL_SECRET,
            )
            debited.append(response.status_code)
        connection.close()

    racer = threading.Thread(target=debit)
    racer.start()
    try:
        audits = [credit_audit() for _ in range(40)]
    finally:
        stop.set()
        racer.join(timeout=60)
    assert debited.count(200) > 0
    assert [drift for _, drift in audits if drift] == []
