"""`audit_credits` (exit 1 on drift) and `seed_demo` (idempotent, prints keys that work)."""

import json
import shlex
import sqlite3
from contextlib import closing
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.test import Client

from conftest import Persona, Track
from quotas.models import EndCustomer, Plan, UsagePeriod
from quotas.sessions import session_mint
from stores.models import ApiKey, CreditLedgerEntry, CreditPack, Membership, Store
from stores.selectors import api_key_hash
from stores.tests.test_commands import (
    assert_failed,
    call_human,
    call_json,
    manage,
    manage_json,
    single_json_object,
)
from tryon.demo import DEMO_CREDITS, DEMO_EMAIL, DEMO_PASSWORD
from tryon.models import TryOnEvent

SEED_KEYS = {
    "store",
    "owner_email",
    "owner_password",
    "secret_key",
    "publishable_key",
    "plan",
    "customer",
    "customer_external_id",
    "balance",
    "curl",
}


def audit_failing(*args: str) -> tuple[str, str]:
    """Run audit_credits expecting drift: the report is printed, then the command fails."""
    stdout = StringIO()
    with pytest.raises(CommandError, match="drift") as raised:
        call_command("audit_credits", *args, stdout=stdout, stderr=StringIO())
    return stdout.getvalue(), str(raised.value)


# --- audit_credits --------------------------------------------------------------------------------


@pytest.mark.django_db
class TestAuditCredits:
    def test_clean_books(self, owner: Persona, outsider: Persona, track: Track) -> None:
        assert track({"api_key": owner.secret}).status_code == 200
        assert call_json("audit_credits") == {"stores_checked": 2, "drift": []}

    def test_no_stores(self) -> None:
        assert call_json("audit_credits") == {"stores_checked": 0, "drift": []}

    def test_a_tampered_balance_is_drift_and_exit_one(self, owner: Persona, outsider: Persona) -> None:
        Store.objects.filter(pk=owner.store.pk).update(credit_balance=F("credit_balance") + 5)
        stdout, error = audit_failing("--json")
        report = single_json_object(stdout)
        assert set(report) == {"stores_checked", "drift"}
        assert report["stores_checked"] == 2
        assert sorted(report["drift"], key=lambda d: d["check"]) == [
            {"store": owner.store.public_id, "check": "balance_equals_live_packs", "expected": 100, "actual": 105},
            {
                "store": owner.store.public_id,
                "check": "ledger_minus_debits_equals_balance",
                "expected": 100,
                "actual": 105,
            },
        ]
        assert "2 drift(s)" in error

    def test_a_debited_event_without_its_credit_is_ledger_drift(self, owner: Persona, track: Track) -> None:
        assert track({"api_key": owner.secret, "success": False}).status_code == 200
        TryOnEvent.objects.filter(store=owner.store).update(debited=True, success=True, outcome="debited")
        report = single_json_object(audit_failing("--json")[0])
        assert report["drift"] == [
            {
                "store": owner.store.public_id,
                "check": "ledger_minus_debits_equals_balance",
                "expected": 99,
                "actual": 100,
            }
        ]

    def test_a_tampered_pack_is_pack_drift(self, owner: Persona) -> None:
        CreditPack.objects.filter(store=owner.store).update(remaining=F("remaining") - 1)
        report = single_json_object(audit_failing("--json")[0])
        assert [(d["check"], d["expected"], d["actual"]) for d in report["drift"]] == [
            ("balance_equals_live_packs", 99, 100)
        ]

    def test_human_output_lists_the_drift(self, owner: Persona) -> None:
        Store.objects.filter(pk=owner.store.pk).update(credit_balance=F("credit_balance") + 5)
        stdout, _ = audit_failing()
        assert "1 store(s): 2 drift(s)" in stdout
        assert f"{owner.store.public_id} balance_equals_live_packs: expected 100, found 105" in stdout
        assert f"{owner.store.public_id} ledger_minus_debits_equals_balance: expected 100, found 105" in stdout

    def test_human_output_when_clean(self, owner: Persona) -> None:
        assert "Checked 1 store(s): 0 drift(s)." in call_human("audit_credits")


# --- seed_demo ------------------------------------------------------------------------------------


def row_counts() -> dict[str, int]:
    models = [get_user_model(), Store, Membership, ApiKey, Plan, EndCustomer, UsagePeriod, CreditPack]
    counts = {model.__name__: model.objects.count() for model in models}
    counts["CreditLedgerEntry"] = CreditLedgerEntry.objects.count()
    return counts


def run_curl(client: Client, curl: str) -> Any:
    """Replay the printed curl through the test client: same URL path, headers and body."""
    words = shlex.split(curl)
    assert words[:4] == ["curl", "-sS", "-X", "POST"]
    url = words[4]
    assert url.endswith("/api/tryon/track")
    headers: dict[str, str] = {}
    body = ""
    for flag, value in zip(words[5::2], words[6::2], strict=True):
        if flag == "-H":
            name, _, text = value.partition(":")
            headers[name.strip()] = text.strip()
        else:
            assert flag == "-d"
            body = value
    content_type = headers.pop("Content-Type")
    return client.post("/api/tryon/track", data=body, content_type=content_type, headers=headers)


@pytest.mark.django_db
class TestSeedDemo:
    def test_json_ids_and_keys(self) -> None:
        out = call_json("seed_demo")
        assert set(out) == SEED_KEYS
        store = Store.objects.get(public_id=out["store"])
        assert (out["owner_email"], out["owner_password"]) == (DEMO_EMAIL, DEMO_PASSWORD)
        owner = Membership.objects.get(store=store, role=Membership.Role.OWNER).user
        assert owner.email == DEMO_EMAIL
        assert owner.check_password(DEMO_PASSWORD)
        secret = ApiKey.objects.get(key_hash=api_key_hash(out["secret_key"]))
        publishable = ApiKey.objects.get(key_hash=api_key_hash(out["publishable_key"]))
        assert (secret.store, secret.kind, out["secret_key"][:12]) == (store, "secret", secret.prefix)
        assert (publishable.store, publishable.kind) == (store, "publishable")
        customer = EndCustomer.objects.get(public_id=out["customer"])
        assert (customer.store, customer.external_id, customer.plan.public_id) == (
            store,
            out["customer_external_id"],
            out["plan"],
        )
        assert out["balance"] == DEMO_CREDITS == store.credit_balance
        assert call_json("audit_credits") == {"stores_checked": 1, "drift": []}

    def test_running_twice_creates_nothing_and_prints_the_same(self) -> None:
        first = call_json("seed_demo")
        counts = row_counts()
        second = call_json("seed_demo")
        assert second == first
        assert row_counts() == counts

    def test_a_second_run_leaves_a_spent_balance_alone(self, client: Client) -> None:
        first = call_json("seed_demo")
        assert run_curl(client, first["curl"]).status_code == 200
        second = call_json("seed_demo")
        assert second["balance"] == DEMO_CREDITS - 1
        assert {k: v for k, v in second.items() if k != "balance"} == {k: v for k, v in first.items() if k != "balance"}
        assert CreditPack.objects.count() == 1

    def test_the_printed_curl_works(self, client: Client) -> None:
        out = call_json("seed_demo", "--base-url", "https://demo.example/")
        assert out["curl"].startswith("curl -sS -X POST https://demo.example/api/tryon/track ")
        assert out["secret_key"] in out["curl"]
        response = run_curl(client, out["curl"])
        assert response.status_code == 200, response.json()
        assert response.json() == {"success": True, "remaining_credits": DEMO_CREDITS - 1, "variation_count": 4}
        event = TryOnEvent.objects.get()
        assert (event.store.public_id, event.debited, event.product_title) == (out["store"], True, "Black Wrap Dress")

    def test_the_printed_curl_works_without_an_internal_secret(self, client: Client, settings: Any) -> None:
        settings.TRYON_INTERNAL_SECRET = []
        out = call_json("seed_demo")
        assert f"Authorization: Bearer {out['secret_key']}" in out["curl"]
        assert run_curl(client, out["curl"]).status_code == 200

    def test_the_publishable_key_and_the_shopper_work(self, track: Track) -> None:
        out = call_json("seed_demo")
        assert track({"api_key": out["publishable_key"]}).status_code == 200
        token = session_mint(customer=EndCustomer.objects.get(public_id=out["customer"])).token
        response = track({"api_key": out["secret_key"], "end_customer_token": token})
        assert response.status_code == 200, response.json()
        assert response.json()["end_customer_quota"]["used"] == 1

    def test_human_output(self) -> None:
        text = call_human("seed_demo")
        store = Store.objects.get()
        for expected in (store.public_id, DEMO_EMAIL, DEMO_PASSWORD, "gvk_live_", "gvk_pub_", "curl -sS"):
            assert expected in text


# --- through a real subprocess --------------------------------------------------------------------


class TestInASubprocess:
    def test_seed_twice_then_audit_then_tamper(self, sqlite_db: Path) -> None:
        first = manage_json("seed_demo", database=sqlite_db)
        assert set(first) == SEED_KEYS
        assert manage_json("seed_demo", database=sqlite_db) == first
        with closing(sqlite3.connect(sqlite_db)) as db:
            assert db.execute("SELECT count(*) FROM stores_store").fetchone() == (1,)
            assert db.execute("SELECT count(*) FROM stores_creditpack").fetchone() == (1,)
        assert manage_json("audit_credits", database=sqlite_db) == {"stores_checked": 1, "drift": []}

        with closing(sqlite3.connect(sqlite_db)) as db, db:
            db.execute("UPDATE stores_store SET credit_balance = credit_balance + 5")
        result = manage("audit_credits", "--json", database=sqlite_db)
        assert result.returncode == 1
        assert "drift" in result.stderr
        assert "Traceback" not in result.stderr
        report = json.loads(result.stdout)
        assert report["stores_checked"] == 1
        assert {(d["store"], d["check"], d["actual"]) for d in report["drift"]} == {
            (first["store"], "balance_equals_live_packs", DEMO_CREDITS + 5),
            (first["store"], "ledger_minus_debits_equals_balance", DEMO_CREDITS + 5),
        }

    def test_audit_takes_no_arguments(self, tmp_path: Path) -> None:
        assert_failed(manage("audit_credits", "st_x", database=tmp_path / "unused.sqlite3"), "unrecognized")


def test_seed_demo_revives_a_revoked_demo_key(db: None) -> None:
    from django.core.management import call_command

    from stores.models import ApiKey
    from stores.selectors import api_key_by_plaintext
    from stores.services import api_key_revoke
    from tryon.demo import demo_key

    call_command("seed_demo", "--json", stdout=StringIO())
    key = api_key_by_plaintext(demo_key(ApiKey.Kind.SECRET))
    assert key is not None
    api_key_revoke(key=key)
    call_command("seed_demo", "--json", stdout=StringIO())
    assert api_key_by_plaintext(demo_key(ApiKey.Kind.SECRET)).is_usable  # type: ignore[union-attr]
