"""`Idempotency-Key` for the track endpoint (SPEC §3): replay, 422 on a new body, 409 while running.

The first request with a key inserts an in-progress record in its own short transaction; the
unique constraint on (store, key) makes every concurrent duplicate fail that insert, so exactly
one request does the work. Outcomes that wrote an event (200 and 402) are stored for replay;
refusals that wrote nothing release the key, so the caller can fix the cause and retry.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from genvoris.errors import ApiError, ErrorCode
from stores.models import Store
from tryon.models import IdempotencyRecord

KEY_TTL = timedelta(hours=24)
# A record still in progress after this long belongs to a request that died mid-way.
ABANDONED_AFTER = timedelta(seconds=60)
MAX_KEY_LENGTH = 255
_RECORDED_STATUSES = {200, 402}


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


def request_hash(body: dict[str, Any]) -> str:
    """Same JSON object (whitespace and key order aside) → same hash."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            ErrorCode.INVALID_BODY,
            "The Idempotency-Key header must be 1 to 255 characters.",
            fieldErrors={"Idempotency-Key": ["Must be 1 to 255 characters."]},
        )
    return key


def idempotent(*, store: Store, key: str, fingerprint: str, now: datetime, run: Callable[[], Answer]) -> Answer:
    stored = _reserve(store=store, key=key, fingerprint=fingerprint, now=now)
    if stored is not None:
        return stored
    try:
        answer = run()
    except ApiError as error:
        if error.status not in _RECORDED_STATUSES:
            _release(store=store, key=key)
            raise
        answer = Answer(error.status, error.body())
    except BaseException:
        _release(store=store, key=key)
        raise
    IdempotencyRecord.objects.filter(store=store, key=key).update(
        state=IdempotencyRecord.State.COMPLETED, response_status=answer.status, response_body=answer.body
    )
    return answer


def _reserve(*, store: Store, key: str, fingerprint: str, now: datetime) -> Answer | None:
    """None if this request now owns the key; the stored answer to replay otherwise."""
    for _ in range(3):
        try:
            with transaction.atomic():
                IdempotencyRecord.objects.create(store=store, key=key, request_hash=fingerprint, created_at=now)
            return None
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(store=store, key=key).first()
        if record is None:
            continue  # released between our insert and our read: try to take it again
        if _expired(record, now):
            IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
            continue
        if record.request_hash != fingerprint:
            raise ApiError(
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was already used with a different request body.",
                detail="Use a new Idempotency-Key for a different try-on; a key names one request.",
            )
        if record.state == IdempotencyRecord.State.IN_PROGRESS:
            raise _conflict()
        return Answer(record.response_status or 200, record.response_body or {}, replayed=True)
    raise _conflict()


def _expired(record: IdempotencyRecord, now: datetime) -> bool:
    if record.created_at <= now - KEY_TTL:
        return True
    return record.state == IdempotencyRecord.State.IN_PROGRESS and record.created_at <= now - ABANDONED_AFTER


def _conflict() -> ApiError:
    return ApiError(
        ErrorCode.IDEMPOTENCY_CONFLICT,
        "A request with this Idempotency-Key is still being processed.",
        detail="Wait for the first request to finish, then retry with the same key to get its answer.",
        headers={"Retry-After": "1"},
    )


def _release(*, store: Store, key: str) -> None:
    IdempotencyRecord.objects.filter(store=store, key=key, state=IdempotencyRecord.State.IN_PROGRESS).delete()


def idempotency_records_prune(*, now: datetime) -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=now - KEY_TTL).delete()
    return deleted
