"""Liveness and readiness for load balancers and orchestrators (SPEC §20).

- `GET /healthz` — the process answers. It reads nothing, so a database outage never makes an
  orchestrator restart every worker at once.
- `GET /readyz` — this worker can serve: the database answers a query, the cache a round trip,
  and the signing key that mints session tokens loads. `503` names the part that failed, in
  words without connection strings, hosts or secrets.

They are answered by a middleware ahead of host validation, CSRF and the HTTPS redirect: a probe
comes from the balancer by the instance's own address, over plain HTTP, and must be answered
whatever `ALLOWED_HOSTS` and `SECURE_SSL_REDIRECT` say. Nothing else is answered here.
"""

import logging
import secrets
from collections.abc import Callable

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse, JsonResponse

from quotas.sessions import signing_key_loads

logger = logging.getLogger("genvoris.health")

PATHS = ("/healthz", "/readyz")


def _database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    key, value = "readyz:" + secrets.token_hex(8), secrets.token_hex(8)
    cache.set(key, value, timeout=5)
    if cache.get(key) != value:
        raise RuntimeError("the cache did not return what was stored")
    cache.delete(key)


# In the order a request needs them: no signing key can be read without the database.
CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "cache": _cache,
    "signing_key": signing_key_loads,
}


def readiness() -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any backend's error: the part is not ready, whatever the cause
            logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = "failing"
        else:
            results[name] = "ok"
    return all(v == "ok" for v in results.values()), results


def _answer(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response: HttpResponse = JsonResponse(
            {"error": "method_not_allowed", "message": "Use GET.", "detail": f"{request.method} is not allowed here."},
            status=405,
        )
        response["Allow"] = "GET, HEAD"
    elif request.path == "/healthz":
        response = JsonResponse({"status": "ok"})
    else:
        ready, checks = readiness()
        failing = [name for name, result in checks.items() if result != "ok"]
        body = {"status": "ok" if ready else "unavailable", "checks": checks}
        if failing:
            body["message"] = "Not ready: " + ", ".join(failing) + "."
        response = JsonResponse(body, status=200 if ready else 503)
    response["Cache-Control"] = "no-store"
    return response


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in PATHS:
            return _answer(request)
        return self.get_response(request)
