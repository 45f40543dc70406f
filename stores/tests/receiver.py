"""A webhook receiver for the tests: a real HTTP server on 127.0.0.1 that records what arrives."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    path: str
    at: float  # time.time() when it arrived (travelled, under time-machine)


class Receiver:
    """Answers `fail_status` to the first `fail_first` requests (all of them with fail_first=-1),
    then 200 `{"ok": true}`; `delay` seconds before each answer."""

    def __init__(self, *, fail_first: int = 0, fail_status: int = 500, delay: float = 0.0) -> None:
        self.fail_first, self.fail_status, self.delay = fail_first, fail_status, delay
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body, self.path, time.time())
                    )
                    count = len(receiver.received)
                if receiver.delay:
                    time.sleep(receiver.delay)
                failing = receiver.fail_first < 0 or count <= receiver.fail_first
                status = receiver.fail_status if failing else 200
                answer = b'{"error": "not yet"}' if failing else b'{"ok": true}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/genvoris"

    def start(self) -> "Receiver":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiving(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options).start()
    try:
        yield receiver
    finally:
        receiver.stop()
