"""Every write of the tryon app: the track service (`track`), the Idempotency-Key binding it
commits with (`idempotency`), the body it reads (`report`), and the daily rollups (`rollups`)."""

from tryon.services.idempotency import Answer, idempotency_records_prune
from tryon.services.rollups import ROLLUP_GRACE, RollupResult, usage_rollup
from tryon.services.track import TrackRequest, tryon_track

__all__ = [
    "ROLLUP_GRACE",
    "Answer",
    "RollupResult",
    "TrackRequest",
    "idempotency_records_prune",
    "tryon_track",
    "usage_rollup",
]
