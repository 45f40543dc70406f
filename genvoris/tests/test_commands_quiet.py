"""Every management command that succeeds prints nothing on stderr (SPEC §20).

Run as real `manage.py` subprocesses, so the logging configuration is the one a deployment gets
(settings.LOGGING, JSON at INFO to stderr), not pytest's capture. One migrated SQLite file for the
module, with one store made first: the commands after it act on that store.
"""

import getpass
import json
from pathlib import Path
from typing import Any

import pytest

from stores.tests.test_commands import copy_database, manage

# One web process: the shared-cache warning (genvoris.W001) is about gunicorn, not these commands.
QUIET = {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "WEB_CONCURRENCY": "1"}


def run(*args: str, database: Path) -> str:
    """The command's stdout; it must exit 0 with an empty stderr."""
    done = manage(*args, database=database, environment=QUIET)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    assert done.stderr == "", (args, done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def database(migrated_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_database(migrated_template, tmp_path_factory.mktemp("quiet"))


@pytest.fixture(scope="module")
def store(database: Path) -> str:
    made: dict[str, Any] = json.loads(
        run("create_store", "--name", "Quiet Shop", "--email", "quiet@example.com", "--json", database=database)
    )
    return str(made["id"])


def test_create_store_is_quiet(store: str) -> None:
    assert store.startswith("st_")


@pytest.mark.parametrize(
    "args",
    [
        ["create_api_key", "{store}", "--label", "cron"],
        ["create_api_key", "{store}", "--kind", "publishable", "--domains", "shop.example", "--json"],
        ["topup_credits", "{store}", "500", "--note", "first pack"],
        ["suspend_store", "{store}", "--note", "unpaid", "--message", "Please settle your invoice."],
        ["reactivate_store", "{store}", "--reason", "paid"],
        ["seed_demo"],
        ["seed_demo", "--json"],  # again: it finds what the first run made
        ["rotate_signing_key"],
        ["expire_credit_packs"],
        ["prune_expired"],
        ["rollup_usage"],
        ["rollup_usage", "--store", "{store}", "--rebuild"],
        ["audit_credits"],
        ["run_periodic"],
        ["run_periodic", "--json"],
        ["deliver_webhooks", "--once"],
        ["deliver_webhooks", "--once", "--json"],
        ["check"],
    ],
    ids=lambda args: " ".join(args),
)
def test_a_command_that_succeeds_writes_nothing_on_stderr(args: list[str], store: str, database: Path) -> None:
    """In order: the module's one database carries each command's work to the next."""
    stdout = run(*[arg.format(store=store) for arg in args], database=database)
    if "--json" in args:
        assert isinstance(json.loads(stdout), dict)


def test_verbosity_two_shows_the_log_lines_as_json(store: str, database: Path) -> None:
    done = manage("suspend_store", store, "--note", "audit", "-v", "2", database=database, environment=QUIET)
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    # The internal note stays out of the logs as out of the merchant's sight; the trail keeps it.
    assert json.loads(line)["message"] == f"store {store} suspended by command:{getpass.getuser()}"
    run("reactivate_store", store, "--reason", "audit done", database=database)


def test_a_failing_command_still_says_why_on_stderr(database: Path) -> None:
    done = manage("suspend_store", "st_nosuchstore", "--note", "x", database=database, environment=QUIET)
    assert done.returncode == 1
    assert "st_nosuchstore" in done.stderr
