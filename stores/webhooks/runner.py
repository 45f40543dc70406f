"""The worker process behind `manage.py deliver_webhooks`: a loop that fans events out and keeps a
pool of threads busy with due deliveries, one per endpoint at a time.

Every step is a short transaction (stores.webhooks.worker), so the loop survives the database
going away: it logs, waits and carries on, and what it had claimed falls due again.
"""

import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from genvoris.metrics import WEBHOOK_DELIVERIES
from stores.webhooks.worker import (
    AttemptResult,
    Claim,
    deliveries_claim,
    delivery_attempt,
    webhooks_backlog,
    webhooks_dispatch,
)

logger = logging.getLogger("genvoris.webhooks")


@dataclass
class Stats:
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0  # a retry is scheduled
    dead: int = 0
    errors: int = 0  # attempts the worker could not record (the database was away): retried later
    started: float = field(default_factory=time.monotonic)

    def add(self, result: AttemptResult) -> None:
        """Count an attempt whose transaction has committed (delivery_attempt returned)."""
        WEBHOOK_DELIVERIES.labels(result.status).inc()
        self.attempted += 1
        if result.status == "succeeded":
            self.succeeded += 1
        elif result.status == "dead":
            self.dead += 1
        else:
            self.failed += 1

    def unrecorded(self) -> None:
        WEBHOOK_DELIVERIES.labels("unrecorded").inc()
        self.errors += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "dead": self.dead,
            "errors": self.errors,
        }


class Runner:
    def __init__(self, *, concurrency: int, poll_seconds: float, report: Callable[[str], None]) -> None:
        self.concurrency = max(1, concurrency)
        self.poll_seconds = poll_seconds
        self.report = report
        self.stats = Stats()
        self.stopping = threading.Event()
        self.in_flight: dict[Future[AttemptResult], Claim] = {}

    # --- signals ---

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT: claim nothing more, finish the attempts in flight, exit."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self.stopping.is_set():
            self.report(
                f"{signal.Signals(signum).name}: finishing {len(self.in_flight)} attempt(s) in flight, then exiting."
            )
        self.stopping.set()

    # --- the loop ---

    def run(self, *, once: bool) -> Stats:
        """Deliver until stopped; with `once`, until nothing is due (retries scheduled later wait)."""
        last_report = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook") as pool:
            while not self.stopping.is_set():
                claimed = self._step(pool)
                if once and not claimed and not self.in_flight:
                    break
                if not once and time.monotonic() - last_report >= 30:
                    self.report(self.status_line())
                    last_report = time.monotonic()
                self._wait(idle=not claimed)
            self._drain()
            _close_connections(pool, self.concurrency)
        return self.stats

    def _step(self, pool: ThreadPoolExecutor) -> int:
        """Fan out what is new, then fill the free threads with due deliveries; the number claimed."""
        free = self.concurrency - len(self.in_flight)
        try:
            if not connection.in_atomic_block:  # (a test's transaction, when a test runs the loop)
                close_old_connections()  # a connection the database dropped is replaced, not reused
            now = timezone.now()
            webhooks_dispatch(now=now)
            if free <= 0:
                return 0
            busy = {claim.endpoint_id for claim in self.in_flight.values()}
            claims = deliveries_claim(now=now, limit=free, busy_endpoints=busy)
        except DatabaseError:
            logger.warning("webhook worker: database unavailable; retrying", exc_info=True)
            connection.close()
            self.stopping.wait(min(5.0, self.poll_seconds * 5))
            return 0
        for claim in claims:
            if self.concurrency == 1:
                self._run_inline(claim)
            else:
                self.in_flight[pool.submit(_attempt, claim)] = claim
        return len(claims)

    def _run_inline(self, claim: Claim) -> None:
        """One at a time in this thread: SQLite's single writer, or --concurrency 1."""
        try:
            self.stats.add(delivery_attempt(claim))
        except DatabaseError:
            self.stats.unrecorded()
            logger.warning("webhook worker: could not record delivery %s", claim.delivery_id, exc_info=True)

    def _wait(self, *, idle: bool) -> None:
        """Until an attempt finishes, or the poll interval passes when there is nothing to claim."""
        if self.in_flight:
            timeout = self.poll_seconds if idle or len(self.in_flight) >= self.concurrency else 0
            done, _ = wait(self.in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            self._collect(done)
        elif idle:
            self.stopping.wait(self.poll_seconds)

    def _collect(self, done: set[Future[AttemptResult]]) -> None:
        for future in done:
            claim = self.in_flight.pop(future)
            try:
                self.stats.add(future.result())
            except Exception:  # the database went away mid-attempt: the lease makes it due again
                self.stats.unrecorded()
                logger.warning("webhook worker: could not record delivery %s", claim.delivery_id, exc_info=True)

    def _drain(self) -> None:
        if self.in_flight:
            done, _ = wait(list(self.in_flight))
            self._collect(done)

    def status_line(self) -> str:
        try:
            backlog = webhooks_backlog(now=timezone.now())
            lag = f"due {backlog.due}, oldest due {backlog.oldest_due_seconds:.1f} s ago"
        except DatabaseError:
            lag = "backlog unknown (database unavailable)"
        s = self.stats
        return (
            f"webhooks: {s.attempted} attempt(s): {s.succeeded} succeeded, {s.failed} to retry, {s.dead} dead"
            f"{f', {s.errors} unrecorded' if s.errors else ''}; {lag}"
        )


def _attempt(claim: Claim) -> AttemptResult:
    close_old_connections()
    try:
        return delivery_attempt(claim)
    finally:
        close_old_connections()


def _close_connections(pool: ThreadPoolExecutor, threads: int) -> None:
    """Close each pool thread's database connection: one task per thread, held apart by a barrier
    so that no thread takes two (a connection may only be closed by its own thread)."""
    if threads == 1:
        return
    barrier = threading.Barrier(threads)

    def close() -> None:
        connection.close()
        barrier.wait(timeout=10)

    wait([pool.submit(close) for _ in range(threads)])
