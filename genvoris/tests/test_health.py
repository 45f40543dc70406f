"""/healthz and /readyz: liveness without dependencies, readiness naming the part that fails.

The failures are real: a worker process started with a database or a cache that refuses
connections, or a cache that accepts and never answers (SPEC §20, issue 14)."""

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from quotas.models import SigningKey
from quotas.sessions import signing_key_active

pytestmark = pytest.mark.django_db

# Asked of the real project in a fresh process, as a worker would answer the balancer.
# The test settings keep a local-memory cache; PROBE_CACHE_URL puts the production one back.
_PROBE = """
import json, os, django
django.setup()
from django.test import Client
from django.test.utils import override_settings
from genvoris.settings import cache_from_url
url = os.environ.get("PROBE_CACHE_URL")
with override_settings(**({"CACHES": {"default": cache_from_url(url)}} if url else {})):
    response = Client().get("/readyz", HTTP_HOST="10.0.0.7:8000")
print(json.dumps({"status": response.status_code, "body": json.loads(response.content)}))
"""


def probe(**environment: str) -> dict[str, Any]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "genvoris.test_settings", **environment}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once the socket is closed


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        server.close()


class TestHealthz:
    def test_answers_without_reading_anything(self, client: Client, at_most: Any) -> None:
        with at_most(0):
            response = client.get("/healthz")
        assert (response.status_code, response.json()) == (200, {"status": "ok"})
        assert response["Cache-Control"] == "no-store"

    def test_any_host_and_plain_http_even_with_the_https_redirect(self, client: Client, settings: Any) -> None:
        settings.SECURE_SSL_REDIRECT = True
        for path in ("/healthz", "/readyz"):
            response = client.get(path, HTTP_HOST="10.0.0.7:8000")  # not in ALLOWED_HOSTS
            assert response.status_code == 200, path

    def test_only_get_and_head(self, client: Client) -> None:
        assert client.head("/healthz").status_code == 200
        response = client.post("/readyz")
        assert (response.status_code, response.json()["error"], response["Allow"]) == (
            405,
            "method_not_allowed",
            "GET, HEAD",
        )


class TestReadyz:
    def test_ready(self, client: Client) -> None:
        signing_key_active()
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "signing_key": "ok"}}

    def test_a_fresh_deployment_without_a_signing_key_yet_is_ready_and_writes_nothing(self, client: Client) -> None:
        assert not SigningKey.objects.exists()
        assert client.get("/readyz").status_code == 200
        assert not SigningKey.objects.exists()  # the first mint makes it, not a probe

    def test_a_signing_key_that_does_not_load_is_named(self, client: Client) -> None:
        SigningKey.objects.create(private_key_pem="-----BEGIN PRIVATE KEY-----\nbroken\n", public_jwk={})
        response = client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["checks"] == {"database": "ok", "cache": "ok", "signing_key": "failing"}
        assert body["message"] == "Not ready: signing_key."

    def test_the_database_stopped(self) -> None:
        url = f"postgres://postgres:secret-pass@127.0.0.1:{closed_port()}/genvoris"
        answer = probe(DATABASE_URL=url)
        assert answer["status"] == 503
        assert answer["body"]["checks"]["database"] == "failing"
        assert answer["body"]["checks"]["signing_key"] == "failing"  # read from the database
        assert answer["body"]["checks"]["cache"] == "ok"
        assert "secret-pass" not in json.dumps(answer)
        assert "127.0.0.1" not in json.dumps(answer)

    def test_the_cache_down(self, sqlite_db: Path) -> None:
        answer = probe(DATABASE_URL=f"sqlite:///{sqlite_db}", PROBE_CACHE_URL=f"redis://127.0.0.1:{closed_port()}/0")
        assert answer["status"] == 503
        assert answer["body"]["checks"] == {"database": "ok", "cache": "failing", "signing_key": "ok"}
        assert answer["body"]["message"] == "Not ready: cache."

    def test_the_cache_hung(self, sqlite_db: Path) -> None:
        with silent_server() as port:
            answer = probe(DATABASE_URL=f"sqlite:///{sqlite_db}", PROBE_CACHE_URL=f"redis://127.0.0.1:{port}/0")
        assert answer["status"] == 503
        assert answer["body"]["checks"] == {"database": "ok", "cache": "failing", "signing_key": "ok"}

    def test_a_real_redis_is_ready(self, sqlite_db: Path) -> None:
        answer = probe(DATABASE_URL=f"sqlite:///{sqlite_db}", PROBE_CACHE_URL="redis://127.0.0.1:6379/9")
        assert answer == {
            "status": 200,
            "body": {"status": "ok", "checks": {"database": "ok", "cache": "ok", "signing_key": "ok"}},
        }
