"""What a track request did, counted once its transaction has committed (genvoris/metrics.py).

Called by the callers of `tryon_track` after it returns or raises, never inside it: a try-on whose
transaction rolled back is not counted, and counting costs no SQL (the statement budget of
tryon/tests/test_track_budget.py holds with metrics on).
"""

from django.conf import settings

from genvoris.errors import ApiError, ErrorCode
from genvoris.metrics import CREDITS_DEBITED, IDEMPOTENT_REPLAYS, PAYMENT_REQUIRED, TOKEN_FAILURES, TRYONS
from tryon.models import TryOnEvent
from tryon.services.idempotency import Answer

_TOKEN_REFUSALS = {ErrorCode.INVALID_SESSION_TOKEN, ErrorCode.TOKEN_STORE_MISMATCH}
_BLOCKED = {TryOnEvent.Outcome.CREDIT_LIMIT_REACHED, TryOnEvent.Outcome.END_CUSTOMER_QUOTA}


def track_answered(answer: Answer) -> None:
    if not settings.METRICS_ENABLED:
        return
    if answer.replayed:
        IDEMPOTENT_REPLAYS.labels("track").inc()
    elif answer.outcome in _BLOCKED:
        reason = str(answer.body.get("reason") or answer.outcome)
        TRYONS.labels("blocked", reason).inc()
        PAYMENT_REQUIRED.labels(reason).inc()
    else:
        TRYONS.labels(answer.outcome, "").inc()
        if answer.outcome == TryOnEvent.Outcome.DEBITED:
            CREDITS_DEBITED.inc()


def track_refused(refused: ApiError) -> None:
    if not settings.METRICS_ENABLED:
        return
    TRYONS.labels("refused", str(refused.code)).inc()
    if refused.code in _TOKEN_REFUSALS:
        TOKEN_FAILURES.labels(refused.cause or str(refused.code)).inc()
