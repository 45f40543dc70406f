"""`manage.py rotate_signing_key` (SPEC §5, §11): prints `{"kid"}`, the old key keeps verifying."""

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from conftest import Persona, Track
from quotas.models import SigningKey
from quotas.sessions import RETIRE_GRACE, signing_key_active
from stores.tests.test_commands import (
    call_human,
    call_json,
    manage,
    manage_json,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def jwks_kids(client: Client) -> list[str]:
    return [key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]]


@pytest.mark.django_db
class TestRotateSigningKey:
    def test_json_is_the_new_kid_and_the_old_key_is_retiring(self, client: Client) -> None:
        with time_machine.travel(NOW, tick=False):
            old = signing_key_active()
            out = call_json("rotate_signing_key")
            published = jwks_kids(client)
        assert set(out) == {"kid"}
        assert out["kid"].startswith("gv-")
        new = SigningKey.objects.get(kid=out["kid"])
        assert new.status == SigningKey.Status.ACTIVE
        old.refresh_from_db()
        assert (old.status, old.retire_after) == (SigningKey.Status.RETIRING, NOW + RETIRE_GRACE)
        assert SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).count() == 1
        assert sorted(published) == sorted([new.kid, old.kid])

    def test_with_no_key_yet_it_creates_the_first(self) -> None:
        out = call_json("rotate_signing_key")
        assert list(SigningKey.objects.values_list("kid", "status")) == [(out["kid"], "active")]

    def test_new_tokens_use_the_new_key_and_old_tokens_still_verify(self, owner: Persona, track: Track) -> None:
        before = owner.token()
        out = call_json("rotate_signing_key")
        after = owner.token()
        assert jwt.get_unverified_header(after)["kid"] == out["kid"]
        assert jwt.get_unverified_header(before)["kid"] != out["kid"]
        for token in (before, after):
            response = track({"api_key": owner.secret, "end_customer_token": token})
            assert response.status_code == 200, response.json()

    def test_a_retiring_key_leaves_the_jwks_once_its_tokens_have_expired(self, client: Client) -> None:
        with time_machine.travel(NOW, tick=False) as clock:
            first = signing_key_active()
            second = call_json("rotate_signing_key")["kid"]
            clock.shift(RETIRE_GRACE + timedelta(seconds=1))
            assert first.kid not in jwks_kids(client)
            third = call_json("rotate_signing_key")["kid"]
            assert sorted(jwks_kids(client)) == sorted([third, second])
        assert SigningKey.objects.get(pk=first.pk).status == SigningKey.Status.RETIRED

    def test_every_run_makes_a_distinct_key(self) -> None:
        kids = {call_json("rotate_signing_key")["kid"] for _ in range(3)}
        assert len(kids) == 3
        assert SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).count() == 1

    def test_human_output(self) -> None:
        text = call_human("rotate_signing_key")
        assert SigningKey.objects.get(status=SigningKey.Status.ACTIVE).kid in text

    def test_takes_no_arguments(self) -> None:
        with pytest.raises(CommandError):
            call_command("rotate_signing_key", "now")


class TestInASubprocess:
    def test_two_runs_print_two_kids_and_keep_one_active(self, sqlite_db: Path) -> None:
        first = manage_json("rotate_signing_key", database=sqlite_db)
        second = manage_json("rotate_signing_key", database=sqlite_db)
        assert set(first) == set(second) == {"kid"}
        with closing(sqlite3.connect(sqlite_db)) as db:
            statuses = dict(db.execute("SELECT kid, status FROM quotas_signingkey"))
        assert statuses[first["kid"]] == "retiring"
        assert statuses[second["kid"]] == "active"
        assert list(statuses.values()).count("active") == 1

    def test_an_unknown_argument_exits_one(self, tmp_path: Path) -> None:
        result = manage("rotate_signing_key", "--kid", "gv-mine", database=tmp_path / "unused.sqlite3")
        assert result.returncode == 1
        assert "unrecognized arguments" in result.stderr
        assert "Traceback" not in result.stderr
