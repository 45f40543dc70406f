"""Caches for the rate-limit tests: a dead one, a hung one, and the shared Redis.

Each is configured by `genvoris.settings.cache_from_url`, as CACHE_URL is, so it carries the
production socket timeouts.
"""

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from genvoris.settings import cache_from_url

# Nothing listens on port 1: every connection is refused at once.
DEAD_REDIS = "redis://127.0.0.1:1/0"
# Databases 10-12 of the local Redis are the test suite's; a random key prefix per test keeps two
# runs at once apart, so nothing is ever flushed.
TEST_REDIS = "redis://127.0.0.1:6379/10"


class HungCache:
    """A loopback port that accepts connections and never answers a byte.

    The listener never calls accept() while a request runs: the kernel completes each TCP
    handshake into the listen backlog, so a client's connect succeeds and its reads hang, as with
    a stalled Redis. `connections()` then drains the backlog to count how often a client came.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.listener.setblocking(False)
        self.config = cache_from_url(f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0")
        self.accepted: list[socket.socket] = []

    def connections(self) -> int:
        """Connections made since the last call."""
        before = len(self.accepted)
        while True:
            try:
                self.accepted.append(self.listener.accept()[0])
            except BlockingIOError:
                return len(self.accepted) - before

    def close(self) -> None:
        for sock in self.accepted:
            sock.close()
        self.listener.close()


@contextmanager
def hung_cache() -> Iterator[HungCache]:
    hung = HungCache()
    try:
        yield hung
    finally:
        hung.close()


def dead_cache() -> dict[str, Any]:
    return cache_from_url(DEAD_REDIS)


def shared_redis() -> dict[str, Any]:
    """The local Redis (the test skips if there is none), under a key prefix of this test's own."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("needs Redis at 127.0.0.1:6379 (a cache shared by workers)")
    return {**cache_from_url(TEST_REDIS), "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
