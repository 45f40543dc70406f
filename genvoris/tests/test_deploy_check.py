"""Production settings pass `manage.py check --deploy` with no warning (SPEC §20, issue 14).

Run in a fresh process with a production-like environment: every value a deployment sets is set
here, so a developer's `.env` (read only for what the environment leaves unset) changes nothing."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def production_environment(**overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "genvoris.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TRYON_INTERNAL_SECRET": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "genvoris.example",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_COOKIES": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "false",
        "DATABASE_URL": "postgres://genvoris:unused@127.0.0.1:1/genvoris",  # checks do not connect
        "CACHE_URL": "redis://127.0.0.1:6379/0",
        "WEB_CONCURRENCY": "4",
        "EMAIL_URL": "smtp+tls://genvoris:unused@smtp.example.com:587",
    }
    return {**env, **overrides}


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_with_no_warning() -> None:
    done = check_deploy(production_environment())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout


def test_the_check_is_not_vacuous() -> None:
    # The same command fails on what a careless deployment leaves: plain-http cookies, no HSTS.
    done = check_deploy(production_environment(SECURE_COOKIES="false", SECURE_HSTS_SECONDS="0"))
    assert done.returncode != 0
    assert "security.W004" in done.stderr + done.stdout
    assert "security.W012" in done.stderr + done.stdout


def test_mail_printed_on_stdout_is_a_deploy_warning() -> None:
    # Console mail would put every set-password link in the logs (SPEC §20: never a token).
    done = check_deploy(production_environment(EMAIL_URL="consolemail://"))
    assert done.returncode != 0
    assert "genvoris.W004" in done.stderr + done.stdout
