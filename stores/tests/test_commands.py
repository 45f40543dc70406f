"""The store, key and credit commands (SPEC §11): `--json` prints one object, errors exit 1.

Most cases run in-process through `call_command`; a few run `manage.py` in a real subprocess, because
the exit status and stderr are what an operator's script sees. A subprocess cannot see the pytest
test database, so it gets either no database at all (argument errors) or a migrated temporary
SQLite file of its own.
"""

import getpass
import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from conftest import Persona, Track
from stores.models import ApiKey, AuditEntry, CreditLedgerEntry, CreditPack, Membership, Store
from stores.tests.factories import StoreFactory, give_credits
from tryon.models import TryOnEvent

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- helpers shared with quotas/tests/test_commands.py and tryon/tests/test_commands.py -----------


def single_json_object(text: str) -> dict[str, Any]:
    """`--json` output must be exactly one JSON object: `json.loads` refuses anything after it."""
    value = json.loads(text)
    assert isinstance(value, dict), text
    return value


def call_json(name: str, *args: str, **options: Any) -> dict[str, Any]:
    stdout, stderr = StringIO(), StringIO()
    call_command(name, *args, json=True, stdout=stdout, stderr=stderr, **options)
    assert stderr.getvalue() == ""
    return single_json_object(stdout.getvalue())


def call_human(name: str, *args: str, **options: Any) -> str:
    stdout = StringIO()
    call_command(name, *args, stdout=stdout, stderr=StringIO(), **options)
    text = stdout.getvalue()
    assert text.strip()
    assert not text.lstrip().startswith("{"), "without --json the output is for people, not JSON"
    return text


def manage(*args: str, database: Path, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `manage.py` as an operator would, against a SQLite file of its own."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "genvoris.test_settings",
        "DATABASE_URL": f"sqlite:///{database}",
        **(environment or {}),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_failed(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit status 1, a one-line reason on stderr, nothing on stdout, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def manage_json(*args: str, database: Path) -> dict[str, Any]:
    result = manage(*args, "--json", database=database)
    assert result.returncode == 0, result.stderr
    return single_json_object(result.stdout)


def migrate_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly migrated SQLite file, made once per session and copied for each test."""
    path = tmp_path_factory.mktemp("commands") / "template.sqlite3"
    result = manage("migrate", "--no-input", "-v", "0", database=path)
    assert result.returncode == 0, result.stderr
    return path


def copy_database(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "db.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{template}{suffix}")
        if source.exists():
            shutil.copy(source, f"{path}{suffix}")
    return path


def counts() -> tuple[int, int, int, int]:
    return (
        Store.objects.count(),
        ApiKey.objects.count(),
        CreditPack.objects.count(),
        CreditLedgerEntry.objects.count(),
    )


# --- create_store ---------------------------------------------------------------------------------


@pytest.mark.django_db
class TestCreateStore:
    def test_json_is_the_store_and_its_owner(self) -> None:
        out = call_json("create_store", "--name", "Maison Lune", "--email", "Owner@Lune.example")
        assert set(out) == {"id", "name", "owner_email", "set_password_link"}
        store = Store.objects.get(public_id=out["id"])
        link = out.pop("set_password_link")
        assert out == {"id": store.public_id, "name": "Maison Lune", "owner_email": "owner@lune.example"}
        assert link.startswith("http://127.0.0.1:8000/accounts/set-password/")
        assert store.public_id.startswith("st_")
        assert (store.status, store.credit_balance) == (Store.Status.ACTIVE, 0)
        membership = Membership.objects.get(store=store)
        assert (membership.role, membership.user.email) == (Membership.Role.OWNER, "owner@lune.example")

    def test_without_password_the_owner_is_emailed_a_one_time_link(self) -> None:
        from django.core import mail
        from django.test import Client

        out = call_json("create_store", "--name", "Lune", "--email", "o@lune.example")
        user = Membership.objects.get(store__public_id=out["id"]).user
        assert not user.is_active
        assert not user.has_usable_password()
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["o@lune.example"]
        assert out["set_password_link"] in mail.outbox[0].body
        path = out["set_password_link"].removeprefix("http://127.0.0.1:8000")
        client = Client()
        form = client.get(path, follow=True)
        password = "a fresh and long passphrase 42"
        done = client.post(form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
        assert done.status_code == 302
        user.refresh_from_db()
        assert user.is_active
        assert user.check_password(password)
        assert client.get("/portal/")["Location"] == f"/portal/{out['id']}/"
        assert "This link no longer works" in Client().get(path, follow=True).content.decode()

    def test_human_output_prints_the_link(self) -> None:
        text = call_human("create_store", "--name", "Maison Lune", "--email", "o@lune.example")
        assert "/accounts/set-password/" in text

    def test_same_name_twice_is_refused(self) -> None:
        call_json("create_store", "--name", "Maison Lune", "--email", "o@lune.example")
        with pytest.raises(CommandError, match="already exists"):
            call_json("create_store", "--name", "maison lune ", "--email", "p@lune.example")
        assert Store.objects.count() == 1
        out = call_json("create_store", "--name", "Maison Lune", "--email", "p@lune.example", "--allow-duplicate-name")
        assert Store.objects.count() == 2
        assert out["name"] == "Maison Lune"

    def test_same_name_exits_non_zero(self, sqlite_db: Path) -> None:
        first = manage("create_store", "--name", "Twice", "--email", "t@lune.example", database=sqlite_db)
        assert first.returncode == 0, first.stderr
        second = manage("create_store", "--name", "Twice", "--email", "u@lune.example", database=sqlite_db)
        assert second.returncode != 0
        assert "already exists" in second.stderr

    def test_password_lets_the_owner_log_in(self) -> None:
        out = call_json("create_store", "--name", "Lune", "--email", "o@lune.example", "--password", "s3cret-Pass")
        user = Membership.objects.get(store__public_id=out["id"]).user
        assert user.check_password("s3cret-Pass")

    def test_human_output(self) -> None:
        text = call_human("create_store", "--name", "Maison Lune", "--email", "o@lune.example")
        store = Store.objects.get()
        assert store.public_id in text
        assert "Maison Lune" in text
        assert "o@lune.example" in text

    @pytest.mark.parametrize(
        "args",
        [
            ["--name", "  ", "--email", "o@lune.example"],
            ["--name", "x" * 121, "--email", "o@lune.example"],
            ["--name", "Lune", "--email", "not-an-email"],
            ["--name", "Lune"],
        ],
    )
    def test_invalid_input_is_an_error_and_creates_nothing(self, args: list[str]) -> None:
        with pytest.raises(CommandError):
            call_command("create_store", *args, json=True, stdout=StringIO())
        assert not Store.objects.exists()


# --- create_api_key -------------------------------------------------------------------------------


def assert_plaintext_nowhere_in_the_database(plaintext: str) -> None:
    """The key must be stored only as its hash: no column of any table holds the plaintext."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                assert not any(plaintext in str(value) for value in row), f"plaintext key found in {table}"


@pytest.mark.django_db
class TestCreateApiKey:
    def test_json_and_the_key_works_at_the_track_endpoint(self, owner: Persona, track: Track) -> None:
        out = call_json("create_api_key", owner.store.public_id, "--label", "Checkout server")
        assert set(out) == {"id", "key", "prefix", "kind"}
        key = ApiKey.objects.get(public_id=out["id"])
        assert out["id"].startswith("key_")
        assert out["kind"] == "secret" == key.kind
        assert out["key"].startswith("gvk_live_")
        assert len(out["key"]) == len("gvk_live_") + 32
        assert out["prefix"] == out["key"][:12] == key.prefix
        assert (key.store, key.label, key.allowed_domains, key.active) == (owner.store, "Checkout server", [], True)

        assert track({"api_key": out["key"]}).status_code == 200
        response = track({}, secret=None, HTTP_AUTHORIZATION=f"Bearer {out['key']}")
        assert response.status_code == 200
        assert response.json()["remaining_credits"] == 98
        assert TryOnEvent.objects.filter(api_key=key, debited=True).count() == 2

    def test_the_key_is_stored_only_as_its_hash(self, owner: Persona) -> None:
        out = call_json("create_api_key", owner.store.public_id)
        key = ApiKey.objects.get(public_id=out["id"])
        assert key.key_hash == hashlib.sha256(out["key"].encode()).hexdigest()
        assert_plaintext_nowhere_in_the_database(out["key"])

    def test_each_run_makes_a_new_key(self, owner: Persona) -> None:
        first = call_json("create_api_key", owner.store.public_id)
        second = call_json("create_api_key", owner.store.public_id)
        assert first["key"] != second["key"]
        assert first["id"] != second["id"]

    def test_publishable_key(self, owner: Persona, track: Track) -> None:
        out = call_json("create_api_key", owner.store.public_id, "--kind", "publishable")
        assert out["kind"] == "publishable"
        assert out["key"].startswith("gvk_pub_")
        assert out["prefix"] == out["key"][:12]
        assert track({"api_key": out["key"]}).status_code == 200  # behind the internal secret

    def test_domains_are_normalized_and_enforced(self, owner: Persona, track: Track) -> None:
        out = call_json("create_api_key", owner.store.public_id, "--domains", " Shop.com ,*.Shop.com,shop.com")
        assert ApiKey.objects.get(public_id=out["id"]).allowed_domains == ["shop.com", "*.shop.com"]
        assert track({"api_key": out["key"], "origin": "https://www.shop.com"}).status_code == 200
        assert track({"api_key": out["key"], "origin": "https://evil.com"}).status_code == 403

    def test_human_output_shows_the_key_once_with_a_warning(self, owner: Persona) -> None:
        text = call_human("create_api_key", owner.store.public_id)
        key = ApiKey.objects.get(store=owner.store, label="")
        plaintext = next(word for word in text.split() if word.startswith("gvk_live_"))
        assert key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        assert key.public_id in text
        assert "not shown again" in text

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--kind", "admin"], "invalid choice"),
            (["--domains", "shop.com,not a domain"], "not a domain"),
            (["--domains", "https://"], "not a domain"),
            (["--domains", "*."], "not a domain"),
        ],
    )
    def test_bad_options_are_errors_and_create_no_key(self, owner: Persona, args: list[str], message: str) -> None:
        before = ApiKey.objects.count()
        with pytest.raises(CommandError, match=message):
            call_command("create_api_key", owner.store.public_id, *args, json=True, stdout=StringIO())
        assert ApiKey.objects.count() == before

    def test_unknown_store(self) -> None:
        with pytest.raises(CommandError, match="No store with id 'st_nope'"):
            call_command("create_api_key", "st_nope", json=True, stdout=StringIO())
        assert not ApiKey.objects.exists()


# --- topup_credits --------------------------------------------------------------------------------


@pytest.mark.django_db
class TestTopupCredits:
    def test_json_pack_and_ledger(self) -> None:
        store = StoreFactory()
        with time_machine.travel(NOW, tick=False):
            out = call_json(
                "topup_credits",
                store.public_id,
                "250",
                "--price-per-credit",
                "0.04",
                "--valid-days",
                "30",
                "--note",
                "Invoice 1042",
            )
        assert set(out) == {"store", "pack", "credits", "balance"}
        pack = CreditPack.objects.get(public_id=out["pack"])
        assert out == {"store": store.public_id, "pack": pack.public_id, "credits": 250, "balance": 250}
        assert (pack.store, pack.credits, pack.remaining) == (store, 250, 250)
        assert pack.price_per_credit == Decimal("0.04")
        assert (pack.purchased_at, pack.expires_at) == (NOW, NOW + timedelta(days=30))
        assert (pack.source, pack.note, pack.expired_at) == (CreditPack.Source.COMMAND, "Invoice 1042", None)
        entry = CreditLedgerEntry.objects.get(pack=pack)
        assert (entry.kind, entry.delta, entry.balance_after) == (CreditLedgerEntry.Kind.TOPUP, 250, 250)
        # The operating-system user who ran the command (SPEC §19).
        assert (entry.actor, entry.actor_user, entry.reason) == (f"command:{getpass.getuser()}", None, "Invoice 1042")
        assert Store.objects.get(pk=store.pk).credit_balance == 250

    def test_defaults_and_a_second_pack_adds_to_the_balance(self, owner: Persona) -> None:
        with time_machine.travel(NOW, tick=False):
            out = call_json("topup_credits", owner.store.public_id, "50")
        assert out["balance"] == 150
        pack = CreditPack.objects.get(public_id=out["pack"])
        assert pack.price_per_credit == Decimal("0")
        assert pack.expires_at == NOW + timedelta(days=365)
        assert CreditLedgerEntry.objects.get(pack=pack).balance_after == 150
        assert Store.objects.get(pk=owner.store.pk).credit_balance == 150
        assert CreditPack.objects.filter(store=owner.store).count() == 2

    def test_human_output(self, owner: Persona) -> None:
        text = call_human("topup_credits", owner.store.public_id, "25")
        pack = CreditPack.objects.filter(store=owner.store).latest("id")
        assert "25" in text
        assert pack.public_id in text
        assert owner.store.public_id in text
        assert "125" in text

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["0"], "credits"),
            (["-5"], "credits"),
            (["10000001"], "credits"),
            (["abc"], "invalid int value"),
            (["2.5"], "invalid int value"),
            (["10", "--price-per-credit", "abc"], "price-per-credit"),
            (["10", "--price-per-credit", "-0.01"], "price_per_credit"),
            (["10", "--price-per-credit", "NaN"], "price_per_credit"),
            (["10", "--price-per-credit", "Infinity"], "price_per_credit"),
            (["10", "--price-per-credit", "10000000"], "price_per_credit"),
            (["10", "--price-per-credit", "0.00001"], "price_per_credit"),
            (["10", "--valid-days", "0"], "valid_days"),
            (["10", "--valid-days", "-1"], "valid_days"),
            (["10", "--valid-days", "3651"], "valid_days"),
            (["10", "--valid-days", "soon"], "invalid int value"),
        ],
    )
    def test_invalid_input_is_an_error_and_moves_nothing(self, owner: Persona, args: list[str], message: str) -> None:
        before = counts()
        with pytest.raises(CommandError, match=message):
            call_command("topup_credits", owner.store.public_id, *args, json=True, stdout=StringIO())
        assert counts() == before
        assert Store.objects.get(pk=owner.store.pk).credit_balance == 100

    def test_unknown_store(self) -> None:
        with pytest.raises(CommandError, match="No store with id 'st_missing'"):
            call_command("topup_credits", "st_missing", "10", json=True, stdout=StringIO())
        assert not CreditPack.objects.exists()


# --- suspend_store / reactivate_store -------------------------------------------------------------


SUSPEND = ("--note", "Chargebacks on 3 orders", "--message", "Your account is under review; reply to our email.")


def trail(store: Store) -> list[tuple[str, str, dict[str, Any]]]:
    return list(AuditEntry.objects.filter(store=store).order_by("id").values_list("action", "actor", "detail"))[1:]


@pytest.mark.django_db
class TestSuspendAndReactivate:
    def test_suspend_then_reactivate(self, owner: Persona, track: Track) -> None:
        out = call_json("suspend_store", owner.store.public_id, *SUSPEND)
        assert out == {"store": owner.store.public_id, "status": "suspended", "changed": True}
        store = Store.objects.get(pk=owner.store.pk)
        assert (store.status, store.suspended_note, store.suspended_message) == (
            Store.Status.SUSPENDED,
            "Chargebacks on 3 orders",
            "Your account is under review; reply to our email.",
        )
        assert store.suspended_at is not None
        refused = track({"api_key": owner.secret}).json()
        assert refused["error"] == "account_inactive"
        # Issue 13: the merchant reads the message, never the note.
        assert refused["detail"] == "Your account is under review; reply to our email."
        assert "Chargebacks" not in json.dumps(refused)

        out = call_json("reactivate_store", owner.store.public_id, "--reason", "Chargebacks resolved")
        assert out == {"store": owner.store.public_id, "status": "active", "changed": True}
        store.refresh_from_db()
        assert (store.status, store.suspended_note, store.suspended_message, store.suspended_at) == (
            Store.Status.ACTIVE,
            "",
            "",
            None,
        )
        assert track({"api_key": owner.secret}).status_code == 200
        actor = f"command:{getpass.getuser()}"  # SPEC §19: the operating-system user, not "command"
        assert trail(store) == [
            (
                AuditEntry.Action.STORE_SUSPENDED,
                actor,
                {
                    "before": "active",
                    "after": "suspended",
                    "note": "Chargebacks on 3 orders",
                    "message": "Your account is under review; reply to our email.",
                },
            ),
            (
                AuditEntry.Action.STORE_REACTIVATED,
                actor,
                {
                    "before": "suspended",
                    "after": "active",
                    "reason": "Chargebacks resolved",
                    "previous_note": "Chargebacks on 3 orders",
                    "previous_message": "Your account is under review; reply to our email.",
                },
            ),
        ]

    def test_reason_is_another_name_of_the_note(self, owner: Persona, track: Track) -> None:
        call_json("suspend_store", owner.store.public_id, "--reason", "Chargebacks")
        store = Store.objects.get(pk=owner.store.pk)
        assert (store.suspended_note, store.suspended_message) == ("Chargebacks", "")
        detail = track({"api_key": owner.secret}).json()["detail"]
        assert "Chargebacks" not in detail
        assert "Contact Genvoris support" in detail

    @pytest.mark.parametrize(
        ("command", "args"), [("suspend_store", ()), ("suspend_store", ("--note", "  ")), ("reactivate_store", ())]
    )
    def test_a_note_or_reason_is_required(self, owner: Persona, command: str, args: tuple[str, ...]) -> None:
        if command == "reactivate_store":
            call_json("suspend_store", owner.store.public_id, *SUSPEND)
        status = Store.objects.get(pk=owner.store.pk).status
        with pytest.raises(CommandError):
            call_command(command, owner.store.public_id, *args, json=True, stdout=StringIO(), stderr=StringIO())
        assert Store.objects.get(pk=owner.store.pk).status == status

    def test_suspending_twice_is_a_no_op(self, owner: Persona) -> None:
        # Issue 13: the repeat exited 0 but wrote a second entry and overwrote the reason.
        call_json("suspend_store", owner.store.public_id, *SUSPEND)
        before = Store.objects.get(pk=owner.store.pk)
        out = call_json("suspend_store", owner.store.public_id, "--note", "other", "--message", "other")
        assert out == {"store": owner.store.public_id, "status": "suspended", "changed": False}
        after = Store.objects.get(pk=owner.store.pk)
        assert (after.suspended_note, after.suspended_message, after.suspended_at) == (
            before.suspended_note,
            before.suspended_message,
            before.suspended_at,
        )
        assert [action for action, _, _ in trail(after)] == [AuditEntry.Action.STORE_SUSPENDED]
        text = call_human("suspend_store", owner.store.public_id, "--note", "again")
        assert text.strip() == f"{owner.store.public_id} is already suspended; nothing changed."

    def test_reactivating_an_active_store_is_a_no_op(self, owner: Persona) -> None:
        out = call_json("reactivate_store", owner.store.public_id, "--reason", "just in case")
        assert out == {"store": owner.store.public_id, "status": "active", "changed": False}
        assert trail(owner.store) == []
        text = call_human("reactivate_store", owner.store.public_id, "--reason", "again")
        assert text.strip() == f"{owner.store.public_id} is already active; nothing changed."

    def test_human_output(self, owner: Persona) -> None:
        text = call_human("suspend_store", owner.store.public_id, *SUSPEND)
        assert text.strip() == f"Suspended {owner.store.public_id}."
        text = call_human("reactivate_store", owner.store.public_id, "--reason", "ok")
        assert text.strip() == f"Reactivated {owner.store.public_id}."

    @pytest.mark.parametrize("command", ["suspend_store", "reactivate_store"])
    def test_unknown_store(self, owner: Persona, command: str) -> None:
        with pytest.raises(CommandError, match="No store with id 'st_ghost'"):
            call_command(command, "st_ghost", "--reason", "x", json=True, stdout=StringIO())
        assert Store.objects.get(pk=owner.store.pk).status == Store.Status.ACTIVE


# --- expire_credit_packs --------------------------------------------------------------------------


@pytest.mark.django_db
class TestExpireCreditPacks:
    def test_json_counts_and_a_second_run_expires_nothing(self, owner: Persona, outsider: Persona) -> None:
        with time_machine.travel(NOW, tick=False):
            give_credits(owner.store, 30, valid_days=10)
            give_credits(outsider.store, 7, valid_days=20)
        with time_machine.travel(NOW + timedelta(days=15), tick=False):
            assert call_json("expire_credit_packs") == {"expired_packs": 1, "credits_expired": 30}
            assert call_json("expire_credit_packs") == {"expired_packs": 0, "credits_expired": 0}
        with time_machine.travel(NOW + timedelta(days=25), tick=False):
            assert call_json("expire_credit_packs") == {"expired_packs": 1, "credits_expired": 7}
        assert Store.objects.get(pk=owner.store.pk).credit_balance == 100
        assert Store.objects.get(pk=outsider.store.pk).credit_balance == 100

    def test_nothing_due(self, owner: Persona) -> None:
        assert call_json("expire_credit_packs") == {"expired_packs": 0, "credits_expired": 0}

    def test_human_output(self, owner: Persona) -> None:
        with time_machine.travel(NOW, tick=False):
            give_credits(owner.store, 12, valid_days=1)
        with time_machine.travel(NOW + timedelta(days=2), tick=False):
            text = call_human("expire_credit_packs")
        assert "1 pack" in text
        assert "12 credit" in text


# --- through a real subprocess --------------------------------------------------------------------


class TestArgumentErrorsInASubprocess:
    """Parsed before any database access, so no database is needed."""

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["topup_credits", "st_x", "many"], "invalid int value: 'many'"),
            (["topup_credits", "st_x", "5", "--price-per-credit", "cheap"], "price-per-credit"),
            (["topup_credits", "st_x", "5", "--valid-days", "forever"], "invalid int value: 'forever'"),
            (["create_api_key", "st_x", "--kind", "root"], "invalid choice: 'root'"),
            (["create_store", "--name", "No Owner"], "--email"),
        ],
    )
    def test_exit_status_one_and_a_message_on_stderr(self, tmp_path: Path, args: list[str], message: str) -> None:
        assert_failed(manage(*args, "--json", database=tmp_path / "unused.sqlite3"), message)


class TestOperatorFlowInASubprocess:
    def test_store_key_credits_suspension_expiry_and_errors(self, sqlite_db: Path) -> None:
        store = manage_json("create_store", "--name", "Flow Shop", "--email", "flow@example.com", database=sqlite_db)
        assert set(store) == {"id", "name", "owner_email", "set_password_link"}
        key = manage_json("create_api_key", store["id"], "--domains", "flow.example", database=sqlite_db)
        assert set(key) == {"id", "key", "prefix", "kind"}
        topup = manage_json("topup_credits", store["id"], "40", "--valid-days", "3", database=sqlite_db)
        assert topup == {"store": store["id"], "pack": topup["pack"], "credits": 40, "balance": 40}

        assert_failed(manage("topup_credits", store["id"], "0", "--json", database=sqlite_db), "credits")
        assert_failed(manage("topup_credits", store["id"], "-3", database=sqlite_db), "credits")
        assert_failed(manage("topup_credits", store["id"], "5", "--valid-days", "0", database=sqlite_db), "valid_days")
        assert_failed(
            manage("suspend_store", "st_unknown", "--note", "x", "--json", database=sqlite_db), "No store with id"
        )
        assert_failed(manage("suspend_store", store["id"], "--json", database=sqlite_db), "--note")

        suspended = manage_json("suspend_store", store["id"], "--note", "fraud", database=sqlite_db)
        assert suspended == {"store": store["id"], "status": "suspended", "changed": True}
        again = manage_json("suspend_store", store["id"], "--note", "fraud", database=sqlite_db)
        assert again == {"store": store["id"], "status": "suspended", "changed": False}  # exit 0
        reactivated = manage_json("reactivate_store", store["id"], "--reason", "cleared", database=sqlite_db)
        assert reactivated == {"store": store["id"], "status": "active", "changed": True}
        assert manage_json("expire_credit_packs", database=sqlite_db) == {"expired_packs": 0, "credits_expired": 0}
        # The refused top-ups moved nothing: one pack of 40, and the books balance.
        assert manage_json("audit_credits", database=sqlite_db) == {"stores_checked": 1, "drift": []}
        again = manage_json("topup_credits", store["id"], "2", database=sqlite_db)
        assert again["balance"] == 42
