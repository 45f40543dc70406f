"""Where webhooks may go (stores/webhooks/targets.py) and how they get there (transport.py):
https to public addresses only, checked at creation and again at every attempt against what the
name resolves to then, sent to the checked address, no redirects, a hard deadline."""

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme
from django.utils import timezone

from conftest import Persona
from genvoris.errors import ApiError
from stores.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from stores.services import Actor
from stores.tests.receiver import receiving
from stores.webhooks import transport
from stores.webhooks.services import webhook_endpoint_create
from stores.webhooks.targets import UrlRefused, check_url, forbidden_reason
from stores.webhooks.worker import deliveries_claim, delivery_attempt, webhooks_dispatch

ACTOR = Actor("test")
PUBLIC = "93.184.216.34"
FORBIDDEN = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "fd00:ec2::254",  # AWS metadata over IPv6
    "100.100.100.200",  # Alibaba metadata, in the shared address space
    "fe80::1",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "0.0.0.0",
    "::",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "240.0.0.1",
    "192.0.2.10",
    "198.18.0.1",
]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names the tests make up, answered as the test says (and changed between calls)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            family = {4: socket.AF_INET, 6: socket.AF_INET6}
            return [
                (family[ipaddress.ip_address(a).version], socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("address", FORBIDDEN)
def test_every_forbidden_address_class_is_named(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", [PUBLIC, "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/x", "https://"),
        ("ftp://hooks.example.com/x", "https://"),
        ("https://user:pw@hooks.example.com/", "user name"),
        ("https:///path", "no host"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://hooks.exa mple.com/", "spaces"),
        ("https://hooks.example.com/\x00", "control"),
        ("https://hooks.example.com:99999/", "valid URL"),
        ("https://" + "a" * 2050 + ".com/", "2048"),
        ("", "Enter"),
    ],
)
def test_malformed_or_plain_http_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(UrlRefused, match=problem):
        check_url(url)


@pytest.mark.parametrize("address", FORBIDDEN)
def test_a_name_resolving_to_a_forbidden_address_is_refused_at_creation(
    owner: Persona, resolver: dict[str, list[str]], address: str
) -> None:
    resolver["hooks.merchant.test"] = [PUBLIC, address]  # one bad answer among good ones is enough
    with pytest.raises(ApiError) as refused:
        webhook_endpoint_create(store=owner.store, url="https://hooks.merchant.test/in", actor=ACTOR)
    assert "public addresses only" in refused.value.extra["fieldErrors"]["url"][0]


@pytest.mark.parametrize("literal", ["https://127.0.0.1/", "https://[::1]/", "https://2130706433/", "https://0x7f.1/"])
def test_literal_and_disguised_loopback_addresses_are_refused(owner: Persona, literal: str) -> None:
    with pytest.raises(ApiError):
        webhook_endpoint_create(store=owner.store, url=literal, actor=ACTOR)


def test_an_unresolvable_name_is_refused(owner: Persona) -> None:
    with pytest.raises(ApiError) as refused:
        webhook_endpoint_create(store=owner.store, url="https://no-such-host.invalid/", actor=ACTOR)
    assert "does not resolve" in refused.value.detail


def _one_due_delivery(owner: Persona, url: str) -> WebhookDelivery:
    endpoint, _ = webhook_endpoint_create(store=owner.store, url=url, events=["credit.balance_added"], actor=ACTOR)
    WebhookEvent.objects.create(store=owner.store, type="credit.balance_added", data={})
    webhooks_dispatch(now=timezone.now())
    return WebhookDelivery.objects.get(endpoint=endpoint)


def test_dns_rebinding_after_creation_is_refused_at_delivery(
    owner: Persona, resolver: dict[str, list[str]], settings: Any
) -> None:
    with receiving() as local:
        port = local.server.server_address[1]
        resolver["hooks.merchant.test"] = [PUBLIC]
        delivery = _one_due_delivery(owner, f"https://hooks.merchant.test:{port}/in")
        resolver["hooks.merchant.test"] = ["127.0.0.1"]  # the name now points at our own network
        (claim,) = deliveries_claim(now=timezone.now(), limit=5)
        result = delivery_attempt(claim)
        assert local.received == []  # no connection was made
    assert result.status == WebhookDelivery.Status.FAILED
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert "127.0.0.1" in attempt.error
    assert "public addresses only" in attempt.error
    assert attempt.address == ""


def test_the_request_goes_to_the_checked_address_with_the_name_as_host(
    owner: Persona, resolver: dict[str, list[str]], settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    with receiving() as local:
        port = local.server.server_address[1]
        resolver["hooks.merchant.test"] = ["127.0.0.1"]
        _one_due_delivery(owner, f"http://hooks.merchant.test:{port}/in?token=abc")
        (claim,) = deliveries_claim(now=timezone.now(), limit=5)
        assert delivery_attempt(claim).status == WebhookDelivery.Status.SUCCEEDED
        (arrived,) = local.received
    assert arrived.headers["host"] == f"hooks.merchant.test:{port}"
    assert arrived.path == "/in?token=abc"


class _Redirecting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_redirects_are_not_followed(serve: Any, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    server = serve(_Redirecting)
    response = transport.post(f"http://127.0.0.1:{server.server_address[1]}/", b"{}", {})
    assert response.status_code == 307
    assert not response.ok


class _Dripping(BaseHTTPRequestHandler):
    """Answers a byte of its status line at a time, slowly: each read is quick, the whole is not."""

    def do_POST(self) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_receiver_dripping_its_answer_is_cut_at_the_deadline(serve: Any, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    server = serve(_Dripping)
    started = time.monotonic()
    response = transport.post(f"http://127.0.0.1:{server.server_address[1]}/", b"{}", {}, timeout=1.0)
    elapsed = time.monotonic() - started
    assert response.status_code is None
    assert "No answer within" in response.error
    assert elapsed < 5  # the dripping answer would take 10 s; the deadline cut it (generous bound)


def test_a_silent_receiver_times_out(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        response = transport.post(f"http://127.0.0.1:{listener.getsockname()[1]}/", b"{}", {}, timeout=0.5)
    finally:
        listener.close()
    assert response.status_code is None
    assert "No answer within" in response.error


def test_https_is_verified_for_the_name_while_connecting_to_the_checked_address(
    resolver: dict[str, list[str]], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    authority = trustme.CA()
    certificate = authority.issue_cert("hooks.merchant.test")

    class Ok(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certificate.configure_cert(server_context)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def trusting() -> ssl.SSLContext:
        context = ssl.create_default_context()
        authority.configure_trust(context)
        return context

    monkeypatch.setattr(transport, "tls_context", trusting)
    try:
        resolver["hooks.merchant.test"] = ["127.0.0.1"]
        resolver["other.merchant.test"] = ["127.0.0.1"]
        good = transport.post(f"https://hooks.merchant.test:{port}/in", b"{}", {})
        wrong_name = transport.post(f"https://other.merchant.test:{port}/in", b"{}", {})
        monkeypatch.setattr(transport, "tls_context", ssl.create_default_context)
        untrusted = transport.post(f"https://hooks.merchant.test:{port}/in", b"{}", {})
    finally:
        server.shutdown()
        server.server_close()
    assert good.status_code == 204
    assert good.address == "127.0.0.1"
    assert wrong_name.status_code is None
    assert "certificate" in wrong_name.error.lower()
    assert untrusted.status_code is None
    assert "certificate" in untrusted.error.lower()
