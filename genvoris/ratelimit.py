"""Rate limits kept in the Django cache: fixed windows counted with one atomic increment.

Every limit is shared by all workers and hosts only if the cache is (CACHE_URL=redis://…; the
genvoris.W001 system check warns otherwise). The cache is a dependency with a deadline (socket
timeouts in settings.CACHES), and every limiter here **fails open**: when the cache cannot be
reached the request is served and the outage logged, because the database, not the cache, guards
every credit and every quota. `hit` returns None then, and a caller that wants to fail closed
instead can decide so itself.

Only the cache is touched, never the database.
"""

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from genvoris.errors import ApiError, ErrorCode

logger = logging.getLogger("genvoris.ratelimit")


@dataclass(frozen=True)
class Hit:
    """One request counted in the current window of a limit."""

    count: int  # requests in this window, this one included
    limit: int
    retry_after: int  # whole seconds until the window ends, at least 1

    @property
    def over_limit(self) -> bool:
        return self.count > self.limit


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or the client a trusted proxy names (NUM_PROXIES)."""
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def _window(key: str, window_seconds: int) -> tuple[str, int]:
    """The cache key of the current window (aligned to the epoch, so every host agrees on it) and
    the whole seconds left in it, rounded up: the exact Retry-After."""
    now = time.time()
    bucket = int(now // window_seconds)
    return f"ratelimit:{key}:{bucket}", max(1, math.ceil((bucket + 1) * window_seconds - now))


def _unavailable(what: str) -> None:
    logger.warning("rate-limit cache unreachable; %s", what, exc_info=True)


def _incr(window_key: str, timeout: int) -> int:
    try:
        return cache.incr(window_key)
    except ValueError:  # evicted between add and incr (a full local-memory cache culls)
        cache.add(window_key, 1, timeout=timeout)
        return 1


def hit(key: str, limit: int, window_seconds: int) -> Hit | None:
    """Count one request against `key` in the current window of `window_seconds`.

    None when the cache is unavailable (logged; each call waits at most the socket timeout): the
    caller then fails open, or closed if it must. Atomic across workers: `add` or `incr`.
    """
    window_key, retry_after = _window(key, window_seconds)
    timeout = retry_after + 5  # the key outlives its window a little, for clocks a little apart
    try:
        count = 1 if cache.add(window_key, 1, timeout=timeout) else _incr(window_key, timeout)
    except Exception:  # any backend's connection error or timeout: see the module docstring
        _unavailable(f"not counting {key}")
        return None
    return Hit(count=count, limit=limit, retry_after=retry_after)


def rate_limited(counted: Hit, message: str) -> ApiError:
    return ApiError(
        ErrorCode.RATE_LIMITED,
        message,
        detail=f"More than {counted.limit} in this window; retry after {counted.retry_after} s.",
        headers={"Retry-After": str(counted.retry_after)},
    )


def enforce(key: str, *, limit: int, window_seconds: int, message: str) -> None:
    """`hit`, then `429 rate_limited` with the exact Retry-After past the limit. Fails open."""
    counted = hit(key, limit, window_seconds)
    if counted is not None and counted.over_limit:
        raise rate_limited(counted, message)


# --- failed authentications (SPEC §3) ----------------------------------------------------------
# Only failures are counted, and a limited address is refused only when its credential fails
# too, so the success path never touches the cache.


def _auth_failure_key(ip: str) -> str:
    return f"authfail:{ip}"


def check_auth_failures(ip: str) -> None:
    window_key, retry_after = _window(_auth_failure_key(ip), settings.AUTH_FAILURE_WINDOW_SECONDS)
    try:
        failures = int(cache.get(window_key) or 0)
    except Exception:  # fail open, see the module docstring
        _unavailable("not limiting failed authentications")
        return
    if failures >= settings.AUTH_FAILURE_LIMIT:
        raise ApiError(
            ErrorCode.RATE_LIMITED,
            "Too many failed authentications from this address.",
            detail=f"More than {settings.AUTH_FAILURE_LIMIT} failed authentications in "
            f"{settings.AUTH_FAILURE_WINDOW_SECONDS} s; retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def record_auth_failure(ip: str) -> None:
    hit(_auth_failure_key(ip), settings.AUTH_FAILURE_LIMIT, settings.AUTH_FAILURE_WINDOW_SECONDS)
