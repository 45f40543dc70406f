"""The reference backend with TRYON_TRACK_URL empty: the track service runs in-process (SPEC §18).

No HTTP call to its own server, so no URL, host or port comes from the request, no worker waits
for another, and the shopper's answer always matches what was charged.
"""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError, connection
from django.test import Client

from conftest import Persona
from stores.models import Store
from tryon import backend
from tryon.models import IdempotencyRecord, TryOnEvent
from tryon.tests.test_backend import DRESS, GENERATE, BrokenGenerator, assert_error, image_bytes

pytestmark = pytest.mark.django_db

Generate = Callable[..., Any]


@pytest.fixture
def generate(client: Client, owner: Persona, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Generate:
    settings.TRYON_TRACK_URL = ""
    monkeypatch.setattr(backend, "RETRY_DELAY_SECONDS", 0)

    def no_http() -> None:
        raise AssertionError("the backend made an HTTP call to track")

    monkeypatch.setattr(backend, "track_client", no_http)

    def post(*, origin: str = "https://shop.example", **extra: Any) -> Any:
        data = {
            "api_key": owner.publishable.plaintext,
            "product_image": DRESS,
            "product_title": "Black Wrap Dress",
            "photo": SimpleUploadedFile("me.jpg", image_bytes(), content_type="image/jpeg"),
        }
        return client.post(GENERATE, data=data, HTTP_ORIGIN=origin, REMOTE_ADDR="203.0.113.9", **extra)

    return post


def books(persona: Persona) -> tuple[int, int, int]:
    return (
        Store.objects.get(pk=persona.store.pk).credit_balance,
        TryOnEvent.objects.filter(store=persona.store, debited=True).count(),
        IdempotencyRecord.objects.filter(store=persona.store).count(),
    )


def test_a_try_on_is_accounted_in_process_once(generate: Generate, owner: Persona) -> None:
    response = generate()
    assert response.status_code == 200, response.content[:300]
    assert response.json()["image"].startswith("data:image/jpeg;base64,")
    assert books(owner) == (99, 1, 1)  # bound to its generation's Idempotency-Key
    event = TryOnEvent.objects.get(store=owner.store)
    assert (event.origin, event.product_title) == ("https://shop.example", "Black Wrap Dress")


def test_no_internal_secret_is_needed_in_process(generate: Generate, owner: Persona, settings: Any) -> None:
    settings.TRYON_INTERNAL_SECRET = []
    assert generate().status_code == 200
    assert books(owner)[0] == 99


@contextmanager
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on a free loopback port that records whatever reaches it and answers a fake 200."""
    received: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                received.append(conn.recv(65536))
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{"success": true}')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        done.set()
        thread.join(timeout=5)
        server.close()


def test_the_host_header_cannot_send_the_report_elsewhere(generate: Generate, owner: Persona) -> None:
    """Found: `Host: 127.0.0.1:18799` delivered the internal secret and the body to a listener on
    that port, which answered a fake 200 — image delivered, nothing debited."""
    with listener() as (port, received):
        response = generate(HTTP_HOST=f"127.0.0.1:{port}")
    assert response.status_code == 200
    assert received == []  # nothing left this process
    assert books(owner) == (99, 1, 1)  # and the try-on was really charged


def test_a_refusal_is_the_track_services_and_charges_nothing(generate: Generate, owner: Persona) -> None:
    Store.objects.filter(pk=owner.store.pk).update(credit_balance=0)
    assert_error(generate(), 402, "credit_limit_reached")
    assert TryOnEvent.objects.get(store=owner.store).outcome == "credit_limit_reached"


def test_the_allowlist_sees_the_browser_origin(generate: Generate, owner: Persona) -> None:
    owner.publishable.allowed_domains = ["shop.example"]
    owner.publishable.save(update_fields=["allowed_domains"])
    assert generate(origin="https://evil.example").status_code == 403
    assert generate(origin="https://shop.example").status_code == 200
    assert books(owner) == (99, 1, 1)


@contextmanager
def failing_event_inserts(times: int) -> Iterator[list[int]]:
    """The first `times` try-on event inserts fail as a dropped connection would."""
    failures: list[int] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith('INSERT INTO "tryon_tryonevent"') and len(failures) < times:
            failures.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield failures


def test_a_database_error_is_retried_with_the_same_key_and_charged_once(generate: Generate, owner: Persona) -> None:
    with failing_event_inserts(1) as failures:
        response = generate()
    assert failures == [1]
    assert response.status_code == 200
    assert books(owner) == (99, 1, 1)


def test_an_outcome_that_stays_unknown_is_never_called_free(generate: Generate, owner: Persona) -> None:
    with failing_event_inserts(backend.IN_PROCESS_ATTEMPTS):
        response = generate()
    body = assert_error(response, 503, "unavailable")
    assert body["outcome"] == "unknown"
    assert "nothing was charged" not in response.content.decode()
    assert books(owner) == (100, 0, 0)


def test_a_failed_generation_is_recorded_in_process_and_not_charged(
    generate: Generate, owner: Persona, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend, "generator", lambda: BrokenGenerator())
    body = assert_error(generate(), 503, "unavailable")
    assert "nothing was charged" in body["message"]
    event = TryOnEvent.objects.get(store=owner.store)
    assert (event.outcome, event.debited) == ("failed", False)
    assert books(owner)[0] == 100


# --- a multi-worker server, as in production -----------------------------------------------------


@pytest.fixture
def gunicorn_server(settings: Any) -> Iterator[str]:
    """gunicorn with 2 sync workers on the test database (committed rows: transaction=True)."""
    db = connection.settings_dict
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "genvoris.test_settings",
        "TRYON_TRACK_URL": "",
        "ALLOWED_HOSTS": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        # stderr is a pipe nobody reads: a line per request (genvoris/logs.py) would fill it.
        "LOG_LEVEL": "WARNING",
    }
    command = [str(Path(sys.executable).parent / "gunicorn"), "genvoris.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        command, cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


def upload(base: str, key: str) -> httpx.Response:
    files = {"photo": ("me.jpg", image_bytes(), "image/jpeg")}
    data = {"api_key": key, "product_image": DRESS, "product_title": "Dress"}
    return httpx.post(
        f"{base}{GENERATE}", data=data, files=files, headers={"Origin": "https://shop.example"}, timeout=60
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
def test_simultaneous_uploads_on_two_workers_finish_and_charge_what_succeeded(gunicorn_server: str) -> None:
    """Found: 4 concurrent uploads on 4 sync workers stalled every endpoint ~20 s (each worker
    waiting on an HTTP call to its own server), then all 4 shoppers were told "nothing was
    charged" while the store was charged 4 times. Here 6 uploads race on 2 workers."""
    from conftest import make_persona

    shop = make_persona("uploads", credits=100)
    key = shop.publishable.plaintext  # type: ignore[attr-defined]
    results: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: results.append(upload(gunicorn_server, key))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = [r.status_code for r in results]
    assert len(statuses) == 6
    assert all(status < 500 for status in statuses), [r.text[:200] for r in results]
    succeeded = statuses.count(200)
    assert succeeded == 6  # 6 well under the address's per-minute budget: each one answered
    assert Store.objects.get(pk=shop.store.pk).credit_balance == 100 - succeeded
    assert TryOnEvent.objects.filter(store=shop.store, debited=True).count() == succeeded
    # And the server still answers anything else at once: no worker is held hostage.
    assert httpx.get(f"{gunicorn_server}/api/v1/status", timeout=5).status_code in (401, 404)


class Unencodable:
    """Generates an image JPEG cannot hold (70,000 pixels wide): it fails only when encoded."""

    def generate(self, request: Any) -> list[Any]:
        from PIL import Image

        return [Image.new("RGB", (70_000, 1))]


def test_an_image_that_cannot_be_sent_is_never_charged(
    generate: Generate, owner: Persona, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: the images were encoded after the try-on was charged, so a failure there
    answered 500 "nothing was charged" to a shopper whose store had been charged."""
    monkeypatch.setattr(backend, "generator", lambda: Unencodable())
    body = assert_error(generate(), 503, "unavailable")
    assert "nothing was charged" in body["message"]
    assert books(owner)[:2] == (100, 0)
    assert TryOnEvent.objects.get(store=owner.store).outcome == "failed"
