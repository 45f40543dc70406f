"""`Idempotency-Key` on the track endpoint (SPEC §3): one key, one answer, bound in the same
transaction as the outcome it describes.

There is no "in progress" state that outlives a transaction. The record holding the answer is the
last row that the debit's transaction (or the 402's, or the failed try-on's) inserts, so it commits
with that outcome or not at all:

- rolled back (any error, a killed worker, a database restart before COMMIT): no debit and no
  record, so the key is free and a retry does the work once;
- committed: the debit and its answer together, replayed to every later request with the key;
- a COMMIT whose acknowledgement was lost: the caller got a 503 and retries; the record is there.

A concurrent duplicate meets the first request's uncommitted row in the unique index (PostgreSQL
makes it wait until that transaction ends; SQLite lets one writer in at a time), fails its own
insert once the first commits, rolls its own work back and replays the first answer. The full
argument, point of failure by point of failure, is in docs/reliability.md.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError

from genvoris.errors import ApiError, ErrorCode
from tryon.models import IdempotencyRecord

KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    # What the request did, for the metrics (tryon/metrics.py); never stored with the key.
    outcome: str = ""


@dataclass(frozen=True)
class Binding:
    """An `Idempotency-Key` of one store, and the request body it names."""

    store_id: int
    key: str
    fingerprint: str


class KeyTaken(Exception):
    """Another request bound the key first; the transaction that raised this must roll back."""


def request_hash(body: dict[str, Any]) -> str:
    """Same JSON object (whitespace and key order aside) → same hash."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_binding(*, store_id: int, key: str | None, body: dict[str, Any]) -> Binding | None:
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            ErrorCode.INVALID_BODY,
            "The Idempotency-Key header must be 1 to 255 characters.",
            fieldErrors={"Idempotency-Key": ["Must be 1 to 255 characters."]},
        )
    return Binding(store_id=store_id, key=key, fingerprint=request_hash(body))


def idempotency_bind(*, binding: Binding, answer: Answer, now: datetime) -> None:
    """Bind the key to `answer`. Call it last, inside the transaction of the outcome it describes.

    No savepoint: on a duplicate the whole transaction must roll back anyway, and does, because
    KeyTaken leaves the atomic block.
    """
    try:
        IdempotencyRecord.objects.create(
            store_id=binding.store_id,
            key=binding.key,
            request_hash=binding.fingerprint,
            response_status=answer.status,
            response_body=answer.body,
            created_at=now,
        )
    except IntegrityError as taken:
        raise KeyTaken(binding.key) from taken


def idempotency_stored(*, binding: Binding, now: datetime) -> Answer | None:
    """The answer the key is bound to, as a replay; None if it is unbound (or its 24 h are over)."""
    record = (
        IdempotencyRecord.objects.filter(store_id=binding.store_id, key=binding.key, created_at__gt=now - KEY_TTL)
        .only("request_hash", "response_status", "response_body")
        .first()
    )
    if record is None:
        return None
    if record.request_hash != binding.fingerprint:
        raise ApiError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This Idempotency-Key was already used with a different request body.",
            detail="Use a new Idempotency-Key for a different try-on; a key names one request.",
        )
    return Answer(record.response_status, record.response_body, replayed=True)


def idempotency_release_expired(*, binding: Binding, now: datetime) -> None:
    """Free a key whose record is past its 24 hours, so the request naming it runs anew."""
    IdempotencyRecord.objects.filter(store_id=binding.store_id, key=binding.key, created_at__lte=now - KEY_TTL).delete()


def idempotency_conflict() -> ApiError:
    return ApiError(
        ErrorCode.IDEMPOTENCY_CONFLICT,
        "A request with this Idempotency-Key is still being processed.",
        detail="Retry with the same key in a moment to get the first request's answer.",
        headers={"Retry-After": "1"},
    )


def idempotency_records_prune(*, now: datetime) -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=now - KEY_TTL).delete()
    return deleted
