"""Webhooks delivered to a real receiver on 127.0.0.1: signed, retried on schedule, then dead."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from conftest import Persona, Track
from stores.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from stores.services import Actor
from stores.tests.receiver import Received, receiving
from stores.webhooks.services import webhook_endpoint_create
from stores.webhooks.worker import RETRY_DELAYS, deliveries_claim, delivery_attempt, webhooks_dispatch

ACTOR = Actor("test")
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _private_urls(settings: pytest.FixtureRequest) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # type: ignore[attr-defined]


def independent_verify(received: Received, secret: str, *, now: float, tolerance: int = 300) -> bool:
    """How a merchant's server checks a delivery, written from the published format alone."""
    fields: dict[str, list[str]] = {}
    for part in received.headers["x-genvoris-signature"].split(","):
        name, _, value = part.partition("=")
        fields.setdefault(name, []).append(value)
    (stamp,) = fields["t"]
    if abs(now - int(stamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + received.body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v1) for v1 in fields.get("v1", []))


def deliver_due() -> int:
    """One pass of the worker, in this thread: fan out, claim what is due, attempt each."""
    now = timezone.now()
    webhooks_dispatch(now=now)
    claims = deliveries_claim(now=now, limit=50)
    for claim in claims:
        delivery_attempt(claim)
    return len(claims)


def subscribe(owner: Persona, url: str, events: list[str]) -> tuple[WebhookEndpoint, str]:
    endpoint, secret = webhook_endpoint_create(store=owner.store, url=url, events=events, actor=ACTOR)
    owner.refresh()
    return endpoint, secret


def test_a_completed_try_on_arrives_signed_and_verifiable(owner: Persona, track: Track) -> None:
    with receiving() as receiver:
        endpoint, secret = subscribe(owner, receiver.url, ["tryon.completed"])
        assert track({"api_key": owner.secret, "product_title": "Linen shirt"}).status_code == 200
        assert deliver_due() == 1
        (arrived,) = receiver.received
    body = json.loads(arrived.body)
    assert body["type"] == "tryon.completed"
    assert body["id"].startswith("evt_")
    assert body["data"]["tryOn"]["productTitle"] == "Linen shirt"
    assert body["data"]["creditsDebited"] == 1
    assert arrived.headers["x-genvoris-event"] == "tryon.completed"
    assert arrived.headers["x-genvoris-delivery"].startswith("whd_")
    assert arrived.headers["content-type"] == "application/json"
    assert independent_verify(arrived, secret, now=arrived.at)
    assert not independent_verify(arrived, "whsec_not-the-secret-at-all-000000", now=arrived.at)
    # Replayed ten minutes later, the same signature is refused: the tolerance is 300 s.
    assert not independent_verify(arrived, secret, now=arrived.at + 600)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.last_status_code == 200
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert attempt.status_code == 200
    assert attempt.response_excerpt == '{"ok": true}'
    assert attempt.latency_ms is not None
    assert attempt.address == "127.0.0.1"


def test_failing_first_attempts_succeed_later_with_the_same_ids_and_fresh_signatures(
    owner: Persona, track: Track
) -> None:
    with time_machine.travel(START, tick=False) as clock, receiving(fail_first=3) as receiver:
        endpoint, secret = subscribe(owner, receiver.url, ["tryon.completed"])
        track({"api_key": owner.secret})
        assert deliver_due() == 1
        for delay in RETRY_DELAYS[:3]:
            clock.shift(delay - 1)
            assert deliver_due() == 0  # not due a second early
            clock.shift(1)
            assert deliver_due() == 1
        arrived = list(receiver.received)
    assert len(arrived) == 4
    assert len({json.loads(r.body)["id"] for r in arrived}) == 1
    assert len({r.headers["x-genvoris-delivery"] for r in arrived}) == 1
    assert [r.headers["x-genvoris-attempt"] for r in arrived] == ["1", "2", "3", "4"]
    stamps = [r.headers["x-genvoris-signature"].split(",")[0] for r in arrived]
    assert len(set(stamps)) == 4  # re-signed each time
    # The last one, made 160 s after the first, verifies at its own time, and the first no longer would.
    assert all(independent_verify(r, secret, now=r.at) for r in arrived)
    assert not independent_verify(arrived[0], secret, now=arrived[0].at + 301)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.SUCCEEDED, 4)
    codes = list(
        WebhookAttempt.objects.filter(delivery=delivery).order_by("number").values_list("status_code", flat=True)
    )
    assert codes == [500, 500, 500, 200]


def test_a_retry_minutes_later_is_verified_at_its_own_time(owner: Persona, track: Track) -> None:
    with time_machine.travel(START, tick=False) as clock, receiving(fail_first=4) as receiver:
        _, secret = subscribe(owner, receiver.url, ["tryon.completed"])
        track({"api_key": owner.secret})
        deliver_due()
        for delay in RETRY_DELAYS[:4]:  # 10 + 30 + 120 + 300 s: the fifth attempt is 7.7 minutes on
            clock.shift(delay)
            deliver_due()
        first, *_, last = receiver.received
    assert last.at - first.at == sum(RETRY_DELAYS[:4])
    assert independent_verify(last, secret, now=last.at)
    assert not independent_verify(first, secret, now=last.at)  # the first signature has expired by then


def test_an_endpoint_that_always_fails_ends_dead_after_the_schedule(owner: Persona, track: Track) -> None:
    with time_machine.travel(START, tick=False) as clock, receiving(fail_first=-1, fail_status=503) as receiver:
        endpoint, _ = subscribe(owner, receiver.url, ["tryon.completed"])
        track({"api_key": owner.secret})
        deliver_due()
        for delay in RETRY_DELAYS:
            delivery = WebhookDelivery.objects.get(endpoint=endpoint)
            assert delivery.status == WebhookDelivery.Status.FAILED
            assert delivery.next_attempt_at == timezone.now() + timedelta(seconds=delay)
            clock.shift(delay)
            assert deliver_due() == 1
        clock.shift(timedelta(days=2))
        assert deliver_due() == 0
        assert len(receiver.received) == 1 + len(RETRY_DELAYS)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.DEAD
    assert delivery.next_attempt_at is None
    assert delivery.attempts == 9
    assert delivery.last_status_code == 503


def test_the_command_once_delivers_and_reports_the_backlog(
    owner: Persona, track: Track, capsys: pytest.CaptureFixture[str]
) -> None:
    with receiving() as receiver:
        subscribe(owner, receiver.url, ["tryon.completed", "credit.low_balance"])
        for _ in range(3):
            track({"api_key": owner.secret})
        call_command("deliver_webhooks", "--once", "--json", "--concurrency", "1")
    result = json.loads(capsys.readouterr().out)
    # Three try-ons, and the first of them took the balance from 100 below the threshold of 100.
    assert result["attempted"] == 4
    assert result["succeeded"] == 4
    assert result["due"] == 0
    assert result["oldest_due_seconds"] == 0
    types = sorted(json.loads(r.body)["type"] for r in receiver.received)
    assert types == ["credit.low_balance", "tryon.completed", "tryon.completed", "tryon.completed"]
