"""Prometheus metrics (SPEC §20): what every request and every try-on did, and `GET /metrics`.

Multi-process safe under gunicorn: with `PROMETHEUS_MULTIPROC_DIR` set (gunicorn.conf.py sets it
for its workers), each process writes its samples to its own files there and a scrape sums them
all, the webhook worker's too when it shares the directory. Without it (runserver, the tests),
values live in this process.

Labels are bounded by construction: a request is labelled by its URL pattern (never the path a
caller typed), a method outside the standard ones is `other`, and the domain labels come from
fixed sets (outcomes, error codes, 402 reasons, token failure causes, delivery statuses).

`/metrics` is answered here, ahead of host validation and the HTTPS redirect, as a scraper calls an
instance by its own address; only addresses in `METRICS_ALLOWED_IPS` (the client as
`genvoris.ratelimit.client_ip` sees it, so a proxy on loopback does not make everyone local) or a
caller with `Authorization: Bearer <METRICS_TOKEN>` get an answer. Everyone else gets the 404
any unknown path gets, so the endpoint is not even shown to exist.
"""

import hmac
import ipaddress
import logging
import time
from collections.abc import Callable, Iterator
from functools import cache

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

from genvoris.api import error_response
from genvoris.errors import ApiError, ErrorCode
from genvoris.ratelimit import client_ip

logger = logging.getLogger("genvoris.metrics")

PATH = "/metrics"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

REQUEST_SECONDS = Histogram(
    "genvoris_http_request_duration_seconds",
    "Time to answer a request, by URL pattern (route), method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
TRYONS = Counter(
    "genvoris_tryons_total",
    "Try-ons reported to /api/tryon/track: debited, failed (recorded, nothing debited), blocked (402, "
    "reason = the 402 reason) or refused (reason = the error code).",
    ["outcome", "reason"],
)
CREDITS_DEBITED = Counter("genvoris_credits_debited_total", "Store credits debited by try-ons.")
PAYMENT_REQUIRED = Counter(
    "genvoris_payment_required_total",
    "402 answers of the track endpoint, by reason (credit_limit_reached or the shopper's quota reason).",
    ["reason"],
)
TOKEN_FAILURES = Counter(
    "genvoris_token_verification_failures_total",
    "Shopper session tokens refused by the track endpoint, by cause.",
    ["cause"],
)
IDEMPOTENT_REPLAYS = Counter(
    "genvoris_idempotent_replays_total",
    "Requests answered with the stored answer of an earlier one with the same Idempotency-Key.",
    ["endpoint"],
)
WEBHOOK_DELIVERIES = Counter(
    "genvoris_webhook_delivery_attempts_total",
    "Webhook delivery attempts by the delivery's status after them: succeeded, failed (a retry is due), "
    "dead, or unrecorded (the database was away; the delivery falls due again).",
    ["status"],
)


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (`portal/<str:store_id>/events/`), never the path itself."""
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else UNMATCHED


def method_of(request: HttpRequest) -> str:
    method = request.method or ""
    return method if method in METHODS else "other"


def observe_request(request: HttpRequest, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(route_of(request), method_of(request), str(status)).observe(seconds)


# --- GET /metrics -------------------------------------------------------------------------------


@cache
def _allowed_networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _allowed_networks(tuple(settings.METRICS_ALLOWED_IPS)))


def _token_ok(authorization: str) -> bool:
    """METRICS_TOKEN may name several tokens, comma-separated (new,old), so a rotation has an
    overlap: the app accepts both while the scrapers switch, then the old one is removed."""
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    offered = credential.strip().encode()
    tokens = [token.strip() for token in settings.METRICS_TOKEN.split(",") if token.strip()]
    # Every token compared, so the answer's timing does not say which one (or whether one) matched.
    return bool(offered) and sum(hmac.compare_digest(offered, token.encode()) for token in tokens) > 0


def may_scrape(request: HttpRequest) -> bool:
    return _address_allowed(client_ip(request)) or _token_ok(request.headers.get("Authorization", ""))


class WebhookBacklog(Collector):
    """Measured at scrape time from the database: the deliveries due now and how long the oldest
    has waited. The worker's lag, whether or not a worker is running to report it."""

    def collect(self) -> Iterator[Metric]:
        from django.utils import timezone

        from stores.webhooks.worker import webhooks_backlog

        try:
            backlog = webhooks_backlog(now=timezone.now())
        except DatabaseError:
            logger.warning("metrics: webhook backlog unknown (database unavailable)")
            return
        yield GaugeMetricFamily(
            "genvoris_webhook_deliveries_due", "Open deliveries to active endpoints whose time has come.", backlog.due
        )
        yield GaugeMetricFamily(
            "genvoris_webhook_oldest_due_seconds",
            "How long the oldest due delivery has waited (0 when none is due).",
            backlog.oldest_due_seconds,
        )


def _exposition() -> bytes:
    samples = CollectorRegistry(auto_describe=False)
    if settings.PROMETHEUS_MULTIPROC_DIR:
        MultiProcessCollector(samples, path=settings.PROMETHEUS_MULTIPROC_DIR)
        text = generate_latest(samples)
    else:
        text = generate_latest(REGISTRY)
    backlog = CollectorRegistry(auto_describe=False)
    backlog.register(WebhookBacklog())
    return text + generate_latest(backlog)


def metrics_answer(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        return error_response(ApiError(ErrorCode.NOT_FOUND, f"No endpoint at {request.path}."))
    if request.method not in ("GET", "HEAD"):
        refused = error_response(ApiError(ErrorCode.METHOD_NOT_ALLOWED, "Use GET."))
        refused["Allow"] = "GET, HEAD"
        return refused
    response = HttpResponse(_exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


class MetricsMiddleware:
    """Answers `/metrics`; times every other request and counts it by route, method and status.

    It sits after the health middleware, so load balancer probes are not counted.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == PATH:
            return metrics_answer(request)
        started = time.perf_counter()
        response = self.get_response(request)
        observe_request(request, response.status_code, time.perf_counter() - started)
        return response
