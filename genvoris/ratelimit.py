"""Failed-authentication limits per client address, kept in the Django cache (SPEC §3).

Only failures are counted and only the cache is touched, never the database. With several web
hosts, point CACHE_URL at a shared Redis so the count is global. The limiter fails open: if the
cache is unreachable, requests are served (and the outage logged) rather than refused, because
the database, not the cache, guards every credit.
"""

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from genvoris.errors import ApiError, ErrorCode

logger = logging.getLogger("genvoris.ratelimit")


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or the client a trusted proxy names (NUM_PROXIES)."""
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return str(request.META.get("REMOTE_ADDR", "unknown"))


def _window_key(ip: str) -> tuple[str, int]:
    window = settings.AUTH_FAILURE_WINDOW_SECONDS
    bucket = int(time.time() // window)
    return f"authfail:{ip}:{bucket}", (bucket + 1) * window


def _failures(key: str) -> int:
    try:
        return int(cache.get(key) or 0)
    except Exception:  # any cache backend's connection error: fail open, see the module docstring
        logger.warning("rate-limit cache unreachable; not limiting", exc_info=True)
        return 0


def check_auth_failures(ip: str) -> None:
    key, window_end = _window_key(ip)
    if _failures(key) >= settings.AUTH_FAILURE_LIMIT:
        retry_after = max(1, math.ceil(window_end - time.time()))
        raise ApiError(
            ErrorCode.RATE_LIMITED,
            "Too many failed authentications from this address.",
            detail=f"More than {settings.AUTH_FAILURE_LIMIT} failed authentications in "
            f"{settings.AUTH_FAILURE_WINDOW_SECONDS} s; retry after {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def record_auth_failure(ip: str) -> None:
    key, _ = _window_key(ip)
    timeout = settings.AUTH_FAILURE_WINDOW_SECONDS + 5
    try:
        if not cache.add(key, 1, timeout=timeout):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=timeout)
    except Exception:  # fail open, as in _failures
        logger.warning("rate-limit cache unreachable; failure not counted", exc_info=True)
