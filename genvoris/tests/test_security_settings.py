"""The production settings SPEC §20 asks for: secure cookies, HSTS configurable, and
`manage.py check --deploy` clean in a production-like environment."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

from conftest import Persona

# The settings are read in a fresh interpreter from exactly this environment: a developer's .env
# (`make run` writes one with SECURE_COOKIES=false) must not decide what the defaults are.
IGNORE_DOTENV = "import environ; environ.Env.read_env = lambda *args, **kwargs: None\n"
READ_SETTINGS = IGNORE_DOTENV + (
    "import json, genvoris.settings as s\nprint(json.dumps({name: getattr(s, name) for name in %r}))"
)
CHECK_DEPLOY = IGNORE_DOTENV + (
    "from django.core.management import execute_from_command_line\n"
    "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
)
COOKIES = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY"]
COOKIES += ["SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE"]
HSTS = ["SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"]


def production(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(settings.BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "genvoris.settings",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "ALLOWED_HOSTS": "portal.genvoris.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CACHE_URL": "redis://cache.internal:6379/0",
        "TRYON_INTERNAL_SECRET": secrets.token_urlsafe(24),
        "EMAIL_URL": "smtp+tls://genvoris:unused@smtp.example.com:587",
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value != "<unset>"}


def read_settings(env: dict[str, str], names: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", READ_SETTINGS % names], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class TestCookies:
    def test_secure_by_default_when_debug_is_off(self, tmp_path: Path) -> None:
        env = production(tmp_path, DEBUG="<unset>")
        assert read_settings(env, COOKIES) == {
            "SESSION_COOKIE_SECURE": True,
            "CSRF_COOKIE_SECURE": True,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "CSRF_COOKIE_SAMESITE": "Lax",
        }

    @pytest.mark.parametrize(
        ("overrides", "secure"),
        [
            ({"DEBUG": "true"}, False),
            ({"DEBUG": "true", "SECURE_COOKIES": "true"}, True),
            ({"SECURE_COOKIES": "false"}, False),
            ({"SECURE_SSL_REDIRECT": "false"}, True),  # TLS ending at the proxy still gets them
        ],
    )
    def test_secure_cookies_setting(self, tmp_path: Path, overrides: dict[str, str], secure: bool) -> None:
        values = read_settings(production(tmp_path, **overrides), COOKIES[:2])
        assert values == {"SESSION_COOKIE_SECURE": secure, "CSRF_COOKIE_SECURE": secure}

    def test_the_example_env_of_make_run_serves_plain_http(self) -> None:
        lines = (Path(settings.BASE_DIR) / ".env.example").read_text().splitlines()
        assert "SECURE_COOKIES=false" in lines

    @pytest.mark.parametrize("secure", [True, False])
    def test_signing_in_sets_cookies_with_the_flags_of_the_settings(
        self, client: Client, owner: Persona, secure: bool
    ) -> None:
        with override_settings(SESSION_COOKIE_SECURE=secure, CSRF_COOKIE_SECURE=secure):
            client.get("/accounts/login/")
            csrf = client.cookies["csrftoken"]
            response = client.post(
                "/accounts/login/",
                {"username": owner.user.username, "password": "correct horse battery staple"},
            )
        assert response.status_code == 302
        session = response.cookies["sessionid"]
        assert (session["secure"], session["httponly"], session["samesite"]) == (secure or "", True, "Lax")
        assert (csrf["secure"], csrf["samesite"]) == (secure or "", "Lax")


class TestHsts:
    def test_off_unless_configured(self, tmp_path: Path) -> None:
        env = production(tmp_path, SECURE_HSTS_SECONDS="<unset>")
        assert read_settings(env, HSTS) == {
            "SECURE_HSTS_SECONDS": 0,
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
            "SECURE_HSTS_PRELOAD": False,
        }

    def test_read_from_the_environment(self, tmp_path: Path) -> None:
        env = production(tmp_path, SECURE_HSTS_INCLUDE_SUBDOMAINS="false", SECURE_HSTS_PRELOAD="true")
        assert read_settings(env, HSTS) == {
            "SECURE_HSTS_SECONDS": 31536000,
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
            "SECURE_HSTS_PRELOAD": True,
        }

    @pytest.mark.parametrize(
        ("seconds", "subdomains", "preload", "header"),
        [
            (31536000, True, False, "max-age=31536000; includeSubDomains"),
            (3600, False, True, "max-age=3600; preload"),
            (0, True, True, None),
        ],
    )
    def test_the_header_follows_the_settings(
        self, client: Client, seconds: int, subdomains: bool, preload: bool, header: str | None
    ) -> None:
        hsts = {"SECURE_HSTS_SECONDS": seconds, "SECURE_HSTS_INCLUDE_SUBDOMAINS": subdomains}
        with override_settings(**hsts, SECURE_HSTS_PRELOAD=preload):
            assert client.get("/accounts/login/", secure=True).get("Strict-Transport-Security") == header
            assert client.get("/accounts/login/").get("Strict-Transport-Security") is None  # plain http


class TestCheckDeploy:
    def test_a_production_environment_passes_clean(self, tmp_path: Path) -> None:
        done = subprocess.run(
            [sys.executable, "-c", CHECK_DEPLOY], env=production(tmp_path), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "System check identified no issues (1 silenced)."

    @pytest.mark.parametrize(
        ("overrides", "warnings"),
        [
            ({"SECURE_HSTS_SECONDS": "<unset>"}, ["security.W004"]),
            ({"SECURE_COOKIES": "false"}, ["security.W012", "security.W016"]),
        ],
    )
    def test_and_would_say_what_is_missing(
        self, tmp_path: Path, overrides: dict[str, str], warnings: list[str]
    ) -> None:
        env = production(tmp_path, **overrides)
        done = subprocess.run([sys.executable, "-c", CHECK_DEPLOY], env=env, capture_output=True, text=True)
        assert done.returncode == 1
        assert [w for w in warnings if f"({w})" in done.stderr] == warnings
