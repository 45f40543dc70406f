"""One HTTP attempt of a delivery: to the address that was checked, within a hard deadline.

httpx does the HTTP and TLS; we choose the address. The request is made to the checked IP with
the URL's host name as Host header and TLS server name (so the certificate is verified for the
name), redirects are never followed, no proxy from the environment is used, and a watchdog shuts
the socket when the deadline passes, so a receiver that answers one byte at a time cannot hold a
worker longer than the timeout.
"""

import contextlib
import functools
import socket
import ssl
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import httpx

from stores.webhooks.targets import IpAddress, Target, UrlRefused, parse_url, resolve

TIMEOUT_SECONDS = 10.0
EXCERPT_BYTES = 1000
USER_AGENT = "Genvoris-Webhooks/1.0 (+https://genvoris.org/docs/webhooks)"


@dataclass(frozen=True)
class Response:
    status_code: int | None
    latency_ms: int
    error: str = ""
    excerpt: str = ""
    address: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = TIMEOUT_SECONDS) -> Response:
    """POST `body` to `url`; never raises for anything the receiver or the network does."""
    started = time.monotonic()
    try:
        target = parse_url(url)
        address = resolve(target)[0]
    except UrlRefused as refused:
        return Response(None, _ms_since(started), error=_clip(str(refused)))
    remaining = max(timeout - (time.monotonic() - started), 0.1)
    response = _post_to(target, address, body, headers, started=started, timeout=remaining)
    if response.error == _TIMED_OUT:
        return replace(response, error=f"No answer within {timeout:g} s.")
    return response


_TIMED_OUT = "timed out"


def _post_to(
    target: Target, address: IpAddress, body: bytes, headers: dict[str, str], *, started: float, timeout: float
) -> Response:
    host = f"[{address}]" if address.version == 6 else str(address)
    url = f"{target.scheme}://{host}:{target.port}{target.path}"
    sockets: list[socket.socket] = []

    def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                sockets.append(sock)

    fired = threading.Event()
    watchdog = threading.Timer(timeout, _shut, args=(sockets, fired))
    watchdog.daemon = True
    watchdog.start()
    try:
        with httpx.Client(verify=tls_context(), timeout=timeout, follow_redirects=False, trust_env=False) as client:
            request = client.build_request(
                "POST",
                url,
                content=body,
                headers={**headers, "Host": target.host_header, "User-Agent": USER_AGENT},
                extensions={"sni_hostname": target.host, "trace": trace},
            )
            response = client.send(request, stream=True)
            try:
                excerpt = _read_excerpt(response)
            finally:
                response.close()
            return Response(response.status_code, _ms_since(started), excerpt=excerpt, address=str(address))
    except httpx.TimeoutException:
        error = _TIMED_OUT
    except httpx.ConnectError as exc:
        error = _connect_error(exc)
    except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
        error = _describe(exc)
    finally:
        watchdog.cancel()
    if fired.is_set():  # whatever the cut socket raised, the cause was the deadline
        error = _TIMED_OUT
    return Response(None, _ms_since(started), error=_clip(error), address=str(address))


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Certificates verified against the system's trust store, names checked (the TLS name is the
    URL's host, not the address connected to). Made once per process and shared by the threads:
    loading the trust store takes some 30 ms, longer than a whole delivery to a nearby receiver."""
    return ssl.create_default_context()


def _read_excerpt(response: httpx.Response) -> str:
    """The start of the body, for the delivery log: printable text only, at most 1000 bytes."""
    chunk = b""
    try:
        for part in response.iter_raw():
            chunk += part
            if len(chunk) >= EXCERPT_BYTES:
                break
    except httpx.HTTPError:
        pass  # the status line arrived in time; a body cut short (or at the deadline) is still logged
    text = chunk[:EXCERPT_BYTES].decode("utf-8", errors="replace")
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in text)


def _shut(sockets: list[socket.socket], fired: threading.Event) -> None:
    fired.set()
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _connect_error(exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate" in text.lower():
        return f"TLS certificate not valid for this host: {text}"
    if "Connection refused" in text:
        return "Connection refused."
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _clip(text: str) -> str:
    return text if len(text) <= 300 else text[:299] + "…"


def _ms_since(started: float) -> int:
    return max(int((time.monotonic() - started) * 1000), 0)
