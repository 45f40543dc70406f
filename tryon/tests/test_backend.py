"""The reference try-on backend (tryon/backend.py): uploads, product images, generators, and the
track call it makes over HTTP, whose every refusal it must relay as it came."""

import base64
import http.server
import json
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.core.wsgi import get_wsgi_application
from django.test import Client
from django.utils import timezone
from PIL import Image

from conftest import INTERNAL_SECRET, Persona, connection_kept
from genvoris.errors import ApiError
from quotas.models import EndCustomer, UsagePeriod
from quotas.services import end_customer_update
from stores.models import Store
from stores.services import SYSTEM, api_key_revoke, store_suspend
from stores.tests.factories import ApiKeyFactory
from tryon import backend
from tryon.generators import TryOnRequest
from tryon.images import public_address
from tryon.models import TryOnEvent

pytestmark = pytest.mark.django_db

GENERATE = "/api/tryon/generate"
DRESS = "/static/tryon/demo/wrap-dress.png"


# --- images made here ----------------------------------------------------------------------------


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (240, 300), color: str = "#8899aa", **save: Any) -> bytes:
    buffer = BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header announcing a huge canvas, with almost no pixel data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def decoded(data_url: str) -> Image.Image:
    prefix, _, payload = data_url.partition(",")
    assert prefix == "data:image/jpeg;base64"
    return Image.open(BytesIO(base64.b64decode(payload)))


# --- the track endpoint, reached over HTTP through the real application -------------------------


class Recorder(httpx.BaseTransport):
    """Every track call the backend makes, answered by the Django app in-process (WSGI), unless
    `script` has a canned answer (or an exception) for that call first."""

    def __init__(self) -> None:
        self.app = httpx.WSGITransport(app=get_wsgi_application())
        self.requests: list[httpx.Request] = []
        self.script: list[httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]] = []
        self.rewrite: Callable[[httpx.Request], httpx.Request] = lambda request: request

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.script:
            canned = self.script.pop(0)
            if isinstance(canned, Exception):
                raise canned
            return canned if isinstance(canned, httpx.Response) else canned(request)
        return self.forward(self.rewrite(request))

    def forward(self, request: httpx.Request) -> httpx.Response:
        """Through the application, read to the end (which is when Django ends the request)."""
        with connection_kept():
            response = self.app.handle_request(request)
            content = b"".join(response.stream)  # type: ignore[arg-type]
            response.stream.close()  # type: ignore[attr-defined]
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]

    def keys(self) -> list[str]:
        return [request.headers["Idempotency-Key"] for request in self.requests]


INTERNAL_TRACK_URL = "http://testserver/api/tryon/track"


@pytest.fixture
def track_calls(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Recorder:
    """The backend reporting over HTTP to TRYON_TRACK_URL (SPEC §18), every call recorded; the
    in-process mode (no URL) is tested in tryon/tests/test_backend_in_process.py."""
    settings.TRYON_TRACK_URL = INTERNAL_TRACK_URL
    recorder = Recorder()
    monkeypatch.setattr(backend, "track_client", lambda: httpx.Client(transport=recorder, timeout=5))
    monkeypatch.setattr(backend, "RETRY_DELAY_SECONDS", 0)
    return recorder


Generate = Callable[..., Any]


@pytest.fixture
def generate(client: Client, owner: Persona, track_calls: Recorder) -> Generate:
    """POST a try-on as widget.js does: multipart, from a shopper's browser on a merchant's page."""

    def post(
        photo: bytes | None = None,
        *,
        filename: str = "me.jpg",
        content_type: str = "image/jpeg",
        origin: str = "https://shop.example",
        ip: str = "203.0.113.9",
        **fields: str,
    ) -> Any:
        data: dict[str, Any] = {
            "api_key": owner.publishable.plaintext,
            "product_image": DRESS,
            "product_title": "Black Wrap Dress",
            "page_url": "https://shop.example/p/dress-42",
            "photo": SimpleUploadedFile(filename, photo or image_bytes(), content_type=content_type),
            **fields,
        }
        return client.post(GENERATE, data=data, HTTP_ORIGIN=origin, REMOTE_ADDR=ip)

    return post


def balance(persona: Persona) -> int:
    return Store.objects.get(pk=persona.store.pk).credit_balance


def used(customer: EndCustomer) -> int:
    customer.refresh_from_db()
    period = UsagePeriod.objects.filter(customer=customer, period_start=customer.period_start).first()
    return period.used if period else 0


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["error"] == code, body
    assert body["message"]
    return body


# --- success -----------------------------------------------------------------------------------


class TestTryOn:
    def test_legacy_mode_debits_one_credit_and_answers_the_image(
        self, generate: Generate, owner: Persona, track_calls: Recorder
    ) -> None:
        response = generate()
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert body["success"] is True
        assert body["variation_count"] == 1
        assert body["generation_time_ms"] >= 0
        assert "end_customer_quota" not in body
        assert "remaining_credits" not in body  # the store's balance is not the shopper's business
        assert decoded(body["image"]).size == (240, 300)
        assert balance(owner) == 99
        event = TryOnEvent.objects.get(store=owner.store)
        assert (event.outcome, event.debited, event.product_title) == ("debited", True, "Black Wrap Dress")
        assert (event.page_url, event.origin) == ("https://shop.example/p/dress-42", "https://shop.example")

    def test_with_a_token_the_shopper_quota_is_used_and_answered(self, generate: Generate, owner: Persona) -> None:
        response = generate(end_customer_token=owner.token())
        assert response.status_code == 200
        assert response.json()["end_customer_quota"] == {"used": 1, "limit": 10, "remaining": 9}
        assert used(owner.customer) == 1
        assert balance(owner) == 99

    def test_the_track_call_is_the_published_one(
        self, generate: Generate, owner: Persona, track_calls: Recorder
    ) -> None:
        generate(product_category="home", end_customer_token=owner.token())
        (request,) = track_calls.requests
        assert str(request.url) == "http://testserver/api/tryon/track"
        assert request.headers["x-internal-secret"] == INTERNAL_SECRET
        assert request.headers["Idempotency-Key"].startswith("gen_")
        body = track_calls.bodies()[0]
        assert body["api_key"] == owner.publishable.plaintext
        assert body["end_customer_token"]
        assert (body["product_type"], body["success"], body["variation_count"]) == ("home", True, 1)
        assert body["origin"] == "https://shop.example"  # from the browser's Origin header, not the form
        assert isinstance(body["generation_time_ms"], int)

    def test_every_generation_has_its_own_idempotency_key(self, generate: Generate, track_calls: Recorder) -> None:
        generate()
        generate()
        assert len(set(track_calls.keys())) == 2

    def test_the_origin_cannot_be_set_by_the_form(self, client: Client, owner: Persona, track_calls: Recorder) -> None:
        photo = SimpleUploadedFile("me.jpg", image_bytes(), content_type="image/jpeg")
        data = {"api_key": owner.publishable.plaintext, "product_image": DRESS, "photo": photo}
        client.post(GENERATE, data={**data, "origin": "https://forged.example"}, HTTP_ORIGIN="https://real.example")
        assert track_calls.bodies()[0]["origin"] == "https://real.example"

    @pytest.mark.parametrize(
        ("category", "expected"),
        [("", "apparel"), ("apparel", "apparel"), ("Home", "home"), ("object", "object"), ("dresses", "other")],
    )
    def test_product_category_becomes_a_product_type(self, category: str, expected: str) -> None:
        assert backend.product_type(category) == expected

    def test_a_sideways_phone_photo_is_made_upright(self, generate: Generate) -> None:
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
        response = generate(image_bytes(size=(300, 200), exif=exif.tobytes()))
        assert decoded(response.json()["image"]).size == (200, 300)

    def test_an_absolute_url_of_this_server_is_read_from_static_files(self, generate: Generate, owner: Persona) -> None:
        response = generate(product_image=f"http://testserver{DRESS}")
        assert response.status_code == 200
        assert balance(owner) == 99


# --- the upload, judged by content -----------------------------------------------------------------


class TestUpload:
    def test_a_png_named_jpg_is_fine(self, generate: Generate, owner: Persona) -> None:
        response = generate(image_bytes("PNG"), filename="me.jpg", content_type="image/jpeg")
        assert response.status_code == 200
        assert balance(owner) == 99

    def test_webp_is_fine(self, generate: Generate) -> None:
        assert generate(image_bytes("WEBP"), filename="me.webp", content_type="image/webp").status_code == 200

    def test_a_text_file_named_jpg_is_refused(self, generate: Generate, owner: Persona, track_calls: Recorder) -> None:
        body = assert_error(generate(b"just some text, honest", filename="me.jpg"), 415, "unsupported_media_type")
        assert "photo" in body["fieldErrors"]
        assert track_calls.requests == []
        assert balance(owner) == 100

    def test_a_gif_is_refused(self, generate: Generate) -> None:
        assert_error(
            generate(image_bytes("GIF"), filename="me.gif", content_type="image/gif"), 415, "unsupported_media_type"
        )

    def test_a_photo_over_10_mb_is_refused(self, generate: Generate, track_calls: Recorder) -> None:
        big = image_bytes("PNG") + b"\0" * (10 * 1024 * 1024)
        body = assert_error(generate(big, filename="me.png"), 413, "payload_too_large")
        assert "photo" in body["fieldErrors"]
        assert track_calls.requests == []

    def test_a_body_over_the_limit_is_refused_before_it_is_read(self, client: Client) -> None:
        response = client.post(
            GENERATE, data=b"x", content_type="multipart/form-data; boundary=b", CONTENT_LENGTH=str(20 * 1024 * 1024)
        )
        assert_error(response, 413, "payload_too_large")

    def test_a_huge_canvas_in_a_small_file_is_refused(self, generate: Generate, track_calls: Recorder) -> None:
        bomb = png_declaring(100_000, 100_000)
        assert len(bomb) < 200
        assert_error(generate(bomb, filename="me.png"), 413, "payload_too_large")
        assert track_calls.requests == []

    def test_more_than_25_megapixels_is_refused(self, generate: Generate) -> None:
        buffer = BytesIO()
        Image.new("1", (6000, 5000)).save(buffer, format="PNG")  # 30 MP, a few kB
        body = assert_error(generate(buffer.getvalue(), filename="me.png"), 413, "payload_too_large")
        assert "megapixels" in body["fieldErrors"]["photo"][0]

    def test_a_truncated_jpeg_is_refused(self, generate: Generate) -> None:
        data = image_bytes(size=(400, 400))
        assert_error(generate(data[: len(data) // 2]), 400, "invalid_body")

    def test_missing_fields_are_named(self, client: Client, track_calls: Recorder) -> None:
        response = client.post(GENERATE, data={"product_title": "x"})
        body = assert_error(response, 400, "invalid_body")
        assert set(body["fieldErrors"]) == {"photo", "api_key", "product_image"}

    def test_a_json_body_is_refused(self, client: Client) -> None:
        response = client.post(GENERATE, data={"api_key": "x"}, content_type="application/json")
        assert_error(response, 415, "unsupported_media_type")

    def test_nothing_is_written_to_disk(
        self, generate: Generate, settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # Django's own handlers would now spill every file
        settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
        settings.MEDIA_ROOT = str(tmp_path)

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("an upload went to a temporary file")

        monkeypatch.setattr(TemporaryUploadedFile, "__init__", refuse)
        noise = Image.frombytes("RGB", (1000, 1000), os.urandom(3_000_000))
        buffer = BytesIO()
        noise.save(buffer, format="PNG")
        assert len(buffer.getvalue()) > 2_600_000  # above Django's in-memory threshold
        assert generate(buffer.getvalue(), filename="me.png").status_code == 200
        assert list(tmp_path.iterdir()) == []


# --- the product image ---------------------------------------------------------------------------


class ImageServer(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"no"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def image_server() -> Iterator[str]:
    ImageServer.routes = {
        "/shirt.png": (200, {"Content-Type": "image/png"}, image_bytes("PNG")),
        "/moved": (302, {"Location": "/shirt.png"}, b""),
        "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
        "/huge.png": (200, {"Content-Type": "image/png"}, b"\0" * (10 * 1024 * 1024 + 10)),
        "/page.html": (200, {"Content-Type": "text/html"}, b"<html>not an image</html>"),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ImageServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class TestProductImage:
    def test_hashed_static_names_after_collectstatic(
        self, generate: Generate, settings: Any, tmp_path: Path, owner: Persona
    ) -> None:
        """With DEBUG off, pages name product images by their hashed, collected names."""
        collected = tmp_path / "tryon" / "demo" / "wrap-dress.0123abcd.png"
        collected.parent.mkdir(parents=True)
        collected.write_bytes(image_bytes("PNG"))
        manifest = {
            "version": "1.1",
            "hash": "x",
            "paths": {"tryon/demo/wrap-dress.png": "tryon/demo/wrap-dress.0123abcd.png"},
        }
        (tmp_path / "staticfiles.json").write_text(json.dumps(manifest))
        settings.STATIC_ROOT = str(tmp_path)
        settings.STORAGES = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
        }
        assert generate(product_image="/static/tryon/demo/wrap-dress.0123abcd.png").status_code == 200
        assert balance(owner) == 99

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:9/dress.png",
            "http://10.1.2.3/dress.png",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/dress.png",
            "http://localhost/dress.png",
            "file:///etc/passwd",
            "ftp://example.com/dress.png",
            "gopher://example.com/",
        ],
    )
    def test_private_addresses_and_other_schemes_are_refused(
        self, generate: Generate, owner: Persona, track_calls: Recorder, url: str
    ) -> None:
        body = assert_error(generate(product_image=url), 400, "invalid_body")
        assert "product_image" in body["fieldErrors"]
        assert track_calls.requests == []
        assert balance(owner) == 100

    def test_a_static_path_outside_static_files_is_refused(self, generate: Generate) -> None:
        for url in ("/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/tryon/demo/none.png"):
            assert_error(generate(product_image=url), 400, "invalid_body")

    def test_a_private_server_is_fetched_when_allowed(
        self, generate: Generate, settings: Any, image_server: str, owner: Persona
    ) -> None:
        settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
        assert generate(product_image=f"{image_server}/shirt.png").status_code == 200
        assert generate(product_image=f"{image_server}/moved").status_code == 200
        assert balance(owner) == 98

    def test_fetch_limits(self, generate: Generate, settings: Any, image_server: str) -> None:
        settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
        assert_error(generate(product_image=f"{image_server}/huge.png"), 413, "payload_too_large")
        assert_error(generate(product_image=f"{image_server}/to-file"), 400, "invalid_body")
        assert_error(generate(product_image=f"{image_server}/missing.png"), 400, "invalid_body")
        body = assert_error(generate(product_image=f"{image_server}/page.html"), 415, "unsupported_media_type")
        assert "product_image" in body["fieldErrors"]

    def test_a_closed_port_is_a_clear_refusal(self, generate: Generate, settings: Any) -> None:
        settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
        body = assert_error(generate(product_image="http://127.0.0.1:9/dress.png"), 400, "invalid_body")
        assert "could not be downloaded" in body["detail"]

    def test_public_address_checks_every_resolved_address(self, monkeypatch: pytest.MonkeyPatch) -> None:
        answers = [(2, 1, 6, "", ("93.184.215.14", 80)), (2, 1, 6, "", ("10.0.0.7", 80))]
        monkeypatch.setattr("socket.getaddrinfo", lambda *args, **kwargs: answers)
        with pytest.raises(ApiError) as refused:
            public_address("mixed.example", 80)
        assert "not a public address" in refused.value.detail
        monkeypatch.setattr("socket.getaddrinfo", lambda *args, **kwargs: answers[:1])
        assert public_address("public.example", 80) == "93.184.215.14"


# --- relaying track ------------------------------------------------------------------------------


class TestRelay:
    def test_an_unknown_key_is_refused_before_any_work(
        self, generate: Generate, track_calls: Recorder, owner: Persona
    ) -> None:
        assert_error(generate(api_key="gvk_pub_" + "x" * 32), 401, "invalid_key")
        assert_error(generate(api_key="not-a-key"), 401, "invalid_key")
        assert track_calls.requests == []

    def test_a_revoked_key_is_refused(self, generate: Generate, track_calls: Recorder, owner: Persona) -> None:
        api_key_revoke(key=owner.publishable)
        assert_error(generate(), 401, "invalid_key")
        assert track_calls.requests == []

    def test_bad_keys_count_against_the_shopper_not_this_backend(
        self, generate: Generate, settings: Any, owner: Persona
    ) -> None:
        settings.AUTH_FAILURE_LIMIT = 3
        for _ in range(3):
            assert_error(generate(api_key="gvk_pub_" + "y" * 32, ip="198.51.100.1"), 401, "invalid_key")
        assert_error(generate(ip="198.51.100.1"), 429, "rate_limited")
        assert generate(ip="198.51.100.2").status_code == 200  # every other shopper still gets through

    def test_a_wrong_internal_secret_is_relayed(self, generate: Generate, track_calls: Recorder) -> None:
        def wrong_secret(request: httpx.Request) -> httpx.Request:
            request.headers["x-internal-secret"] = "not-the-secret"
            return request

        track_calls.rewrite = wrong_secret
        assert_error(generate(), 401, "unauthorized")

    def test_an_invalid_session_token_is_relayed(self, generate: Generate) -> None:
        assert_error(generate(end_customer_token="not.a.jwt"), 401, "invalid_session_token")

    def test_an_empty_pool_is_relayed(self, generate: Generate, owner: Persona) -> None:
        Store.objects.filter(pk=owner.store.pk).update(credit_balance=0)
        owner.store.credit_packs.update(remaining=0)
        assert_error(generate(), 402, "credit_limit_reached")

    def test_an_exhausted_quota_is_relayed_with_its_figures(self, generate: Generate, owner: Persona) -> None:
        owner.plan.monthly_try_ons = 1
        owner.plan.save()
        end_customer_update(customer=owner.customer, now=timezone.now(), reset_period=True)
        assert generate(end_customer_token=owner.token()).status_code == 200
        body = assert_error(generate(end_customer_token=owner.token()), 402, "end_customer_quota")
        assert (body["reason"], body["used"], body["limit"]) == ("quota_exhausted", 1, 1)
        assert balance(owner) == 99

    @pytest.mark.parametrize(("status", "reason"), [("PAUSED", "paused"), ("CANCELLED", "cancelled")])
    def test_an_inactive_shopper_is_relayed(self, generate: Generate, owner: Persona, status: str, reason: str) -> None:
        token = owner.token()
        EndCustomer.objects.filter(pk=owner.customer.pk).update(status=status)
        assert assert_error(generate(end_customer_token=token), 402, "end_customer_quota")["reason"] == reason

    def test_a_shopper_without_a_plan_is_relayed(self, generate: Generate, owner: Persona) -> None:
        token = owner.token()
        EndCustomer.objects.filter(pk=owner.customer.pk).update(plan=None)
        assert assert_error(generate(end_customer_token=token), 402, "end_customer_quota")["reason"] == "no_plan"

    def test_a_suspended_store_is_relayed(self, generate: Generate, owner: Persona) -> None:
        store_suspend(store=owner.store, note="test", actor=SYSTEM)
        assert_error(generate(), 403, "account_inactive")

    def test_the_domain_allowlist_sees_the_browser_origin(self, generate: Generate, owner: Persona) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.example"])
        assert generate(api_key=key.plaintext, origin="https://shop.example").status_code == 200
        assert_error(generate(api_key=key.plaintext, origin="https://elsewhere.example"), 403, "domain_not_allowed")

    def test_another_stores_token_is_relayed(self, generate: Generate, outsider: Persona) -> None:
        assert_error(generate(end_customer_token=outsider.token()), 403, "token_store_mismatch")

    def test_a_429_from_track_keeps_its_retry_after(self, generate: Generate, track_calls: Recorder) -> None:
        track_calls.script.append(
            httpx.Response(
                429,
                json={"error": "rate_limited", "message": "Slow down.", "detail": "x"},
                headers={"Retry-After": "17"},
            )
        )
        response = generate()
        assert_error(response, 429, "rate_limited")
        assert response["Retry-After"] == "17"

    def test_an_answer_that_is_not_an_envelope_is_unavailable(self, generate: Generate, track_calls: Recorder) -> None:
        track_calls.script.append(httpx.Response(502, text="<html>Bad gateway</html>"))
        assert_error(generate(), 503, "unavailable")


class TestRetry:
    def test_a_503_is_retried_once_with_the_same_key(
        self, generate: Generate, owner: Persona, track_calls: Recorder
    ) -> None:
        track_calls.script.append(httpx.Response(503, json={"error": "unavailable", "message": "m", "detail": "d"}))
        assert generate().status_code == 200
        first, second = track_calls.keys()
        assert first == second
        assert balance(owner) == 99

    def test_a_network_error_is_retried_once_with_the_same_key(
        self, generate: Generate, owner: Persona, track_calls: Recorder
    ) -> None:
        track_calls.script.append(httpx.ConnectError("connection refused"))
        assert generate().status_code == 200
        assert len(track_calls.requests) == 2
        assert len(set(track_calls.keys())) == 1
        assert balance(owner) == 99

    def test_a_retry_after_a_lost_answer_is_replayed_not_charged_twice(
        self, generate: Generate, owner: Persona, track_calls: Recorder
    ) -> None:
        """Track debited, but its answer never arrived: the retry, with the same key, is a replay."""
        replies: list[httpx.Response] = []

        def debit_then_lose_the_answer(request: httpx.Request) -> httpx.Response:
            replies.append(track_calls.forward(request))
            raise httpx.ReadTimeout("answer lost")

        track_calls.script.append(debit_then_lose_the_answer)
        assert generate().status_code == 200
        assert replies[0].status_code == 200
        assert len(set(track_calls.keys())) == 1
        assert balance(owner) == 99
        assert TryOnEvent.objects.filter(store=owner.store, debited=True).count() == 1

    def test_two_failures_give_up_without_promising_nothing_was_charged(
        self, generate: Generate, owner: Persona, track_calls: Recorder
    ) -> None:
        # A connection error can come after the request reached track: the outcome is unknown.
        track_calls.script.extend([httpx.ConnectError("down"), httpx.ConnectError("still down")])
        response = generate()
        assert assert_error(response, 503, "unavailable")["outcome"] == "unknown"
        assert "nothing was charged" not in response.content.decode()
        assert int(response["Retry-After"]) >= 1
        assert balance(owner) == 100


# --- generators ----------------------------------------------------------------------------------


class BrokenGenerator:
    def generate(self, request: TryOnRequest) -> list[Image.Image]:
        raise RuntimeError("the model fell over")


class TwoVariations:
    def generate(self, request: TryOnRequest) -> list[Image.Image]:
        return [Image.new("RGB", (32, 40), "red"), Image.new("RGB", (32, 40), "blue")]


class TestGenerators:
    def test_a_failed_generation_is_reported_as_failed_and_not_charged(
        self, generate: Generate, owner: Persona, settings: Any, track_calls: Recorder
    ) -> None:
        settings.TRYON_GENERATOR = "tryon.tests.test_backend.BrokenGenerator"
        assert_error(generate(), 503, "unavailable")
        assert track_calls.bodies()[0]["success"] is False
        event = TryOnEvent.objects.get(store=owner.store)
        assert (event.outcome, event.success, event.debited) == ("failed", False, False)
        assert balance(owner) == 100

    def test_the_setting_names_another_generator(
        self, generate: Generate, owner: Persona, settings: Any, track_calls: Recorder
    ) -> None:
        settings.TRYON_GENERATOR = "tryon.tests.test_backend.TwoVariations"
        body = generate().json()
        assert body["variation_count"] == 2
        assert len(body["images"]) == 2
        assert body["images"][0] == body["image"]
        assert track_calls.bodies()[0]["variation_count"] == 2
        assert balance(owner) == 99  # one try-on, one credit, whatever the variations

    def test_an_unknown_generator_fails_the_system_check(self, settings: Any) -> None:
        from tryon.apps import tryon_backend_check

        settings.TRYON_GENERATOR = "tryon.nowhere.Generator"
        assert [m.id for m in tryon_backend_check(None)] == ["tryon.E001"]
        settings.TRYON_GENERATOR = "tryon.generators.CompositeGenerator"
        assert tryon_backend_check(None) == []

    @pytest.mark.parametrize("url", ["/api/tryon/track", "genvoris.internal/api/tryon/track", "ftp://x/track"])
    def test_a_track_url_that_is_not_absolute_fails_the_system_check(self, settings: Any, url: str) -> None:
        from tryon.apps import tryon_backend_check

        settings.TRYON_TRACK_URL = url
        assert [m.id for m in tryon_backend_check(None)] == ["tryon.E002"]
        settings.TRYON_TRACK_URL = "https://genvoris.internal/api/tryon/track"
        assert tryon_backend_check(None) == []


# --- configuration, CORS and limits --------------------------------------------------------------


class TestConfiguration:
    def test_track_url_setting(self, generate: Generate, settings: Any, track_calls: Recorder) -> None:
        settings.TRYON_TRACK_URL = "http://internal.example:8000/api/tryon/track"
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "internal.example"]
        assert generate().status_code == 200
        assert str(track_calls.requests[0].url) == settings.TRYON_TRACK_URL

    def test_no_internal_secret_is_refused(self, generate: Generate, settings: Any, track_calls: Recorder) -> None:
        settings.TRYON_INTERNAL_SECRET = []
        assert_error(generate(), 503, "unavailable")
        assert track_calls.requests == []


class TestHttp:
    def test_cors_echoes_the_origin(self, generate: Generate) -> None:
        response = generate(origin="https://shop.example")
        assert response["Access-Control-Allow-Origin"] == "https://shop.example"
        assert "Origin" in response["Vary"]
        assert "Access-Control-Allow-Credentials" not in response

    def test_errors_carry_cors_too(self, generate: Generate) -> None:
        response = generate(b"text", origin="https://shop.example")
        assert response.status_code == 415
        assert response["Access-Control-Allow-Origin"] == "https://shop.example"

    def test_preflight(self, client: Client) -> None:
        response = client.options(
            GENERATE, HTTP_ORIGIN="https://shop.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
        )
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == "https://shop.example"
        assert "POST" in response["Access-Control-Allow-Methods"]

    def test_an_unexpected_failure_keeps_cors_so_the_widget_can_read_it(
        self, generate: Generate, monkeypatch: pytest.MonkeyPatch, owner: Persona
    ) -> None:
        def boom(*args: Any, **kwargs: Any) -> None:
            raise KeyError("a bug")

        monkeypatch.setattr(backend, "track_body", boom)
        response = generate(origin="https://shop.example")
        assert_error(response, 500, "internal_error")
        assert response["Access-Control-Allow-Origin"] == "https://shop.example"
        assert balance(owner) == 100

    def test_get_is_405_in_the_envelope(self, client: Client) -> None:
        response = client.get(GENERATE)
        assert_error(response, 405, "method_not_allowed")
        assert response["Allow"] == "POST, OPTIONS"

    def test_generations_are_limited_per_address(
        self, generate: Generate, settings: Any, track_calls: Recorder
    ) -> None:
        settings.TRYON_GENERATE_PER_MINUTE = 2
        assert generate().status_code == 200
        assert generate().status_code == 200
        response = generate()
        assert_error(response, 429, "rate_limited")
        assert 1 <= int(response["Retry-After"]) <= 60
        assert len(track_calls.requests) == 2
        assert generate(ip="198.51.100.77").status_code == 200
