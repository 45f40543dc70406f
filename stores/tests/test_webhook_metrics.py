"""The webhook metrics move as the worker delivers (SPEC §20, issue 14): every attempt counted by
the delivery's status after it, once its transaction has committed, and the oldest due delivery's
wait measured from the outbox at scrape time."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import DatabaseError
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from conftest import Persona, Track
from stores.models import WebhookDelivery, WebhookEndpoint
from stores.services import Actor
from stores.tests.receiver import receiving
from stores.webhooks import runner as runner_module
from stores.webhooks.runner import Runner
from stores.webhooks.services import webhook_endpoint_create
from stores.webhooks.worker import RETRY_DELAYS, webhooks_dispatch

pytestmark = pytest.mark.django_db
ACTOR = Actor("test")
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
STATUSES = ("succeeded", "failed", "dead", "unrecorded")


@pytest.fixture(autouse=True)
def _private_urls(settings: pytest.FixtureRequest) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # type: ignore[attr-defined]


def attempts() -> dict[str, float]:
    return {
        status: REGISTRY.get_sample_value("genvoris_webhook_delivery_attempts_total", {"status": status}) or 0.0
        for status in STATUSES
    }


def moved(before: dict[str, float]) -> dict[str, float]:
    after = attempts()
    return {status: after[status] - before[status] for status in STATUSES if after[status] != before[status]}


def worker_pass() -> int:
    """`deliver_webhooks --once --concurrency 1`: the runner the command runs, in this thread."""
    return Runner(concurrency=1, poll_seconds=0.05, report=lambda line: None).run(once=True).attempted


def subscribe(owner: Persona, url: str) -> WebhookEndpoint:
    endpoint, _ = webhook_endpoint_create(store=owner.store, url=url, events=["tryon.completed"], actor=ACTOR)
    return endpoint


def backlog(client: Client) -> dict[str, float]:
    text = client.get("/metrics").content.decode()
    names = ("genvoris_webhook_deliveries_due", "genvoris_webhook_oldest_due_seconds")
    return {
        family.name: family.samples[0].value for family in text_string_to_metric_families(text) if family.name in names
    }


def test_a_delivered_attempt_counts_as_succeeded(owner: Persona, track: Track) -> None:
    before = attempts()
    with receiving() as receiver:
        endpoint = subscribe(owner, receiver.url)
        assert track({"api_key": owner.secret}).status_code == 200
        assert worker_pass() == 1
        assert len(receiver.received) == 1
    assert moved(before) == {"succeeded": 1}
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == WebhookDelivery.Status.SUCCEEDED


def test_failing_attempts_count_as_failed_until_the_last_counts_as_dead(owner: Persona, track: Track) -> None:
    before = attempts()
    with time_machine.travel(START, tick=False) as clock, receiving(fail_first=-1, fail_status=503) as receiver:
        endpoint = subscribe(owner, receiver.url)
        track({"api_key": owner.secret})
        assert worker_pass() == 1
        assert moved(before) == {"failed": 1}
        for delay in RETRY_DELAYS:
            clock.shift(delay)
            assert worker_pass() == 1
        assert len(receiver.received) == 1 + len(RETRY_DELAYS)
    assert moved(before) == {"failed": len(RETRY_DELAYS), "dead": 1}
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.DEAD, 1 + len(RETRY_DELAYS))


def test_an_attempt_the_database_could_not_record_counts_as_unrecorded(
    owner: Persona, track: Track, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_gone(claim: object) -> None:
        raise DatabaseError("connection lost")

    monkeypatch.setattr(runner_module, "delivery_attempt", database_gone)
    before = attempts()
    with receiving() as receiver:
        endpoint = subscribe(owner, receiver.url)
        track({"api_key": owner.secret})
        runner = Runner(concurrency=1, poll_seconds=0.05, report=lambda line: None)
        # One step claims it and fails to record; the lease keeps it from being claimed again at once.
        runner.run(once=True)
        assert receiver.received == []
    assert moved(before) == {"unrecorded": 1}
    assert runner.stats.errors == 1
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == WebhookDelivery.Status.PENDING


def test_the_oldest_due_delivery_s_wait_is_scraped_from_the_outbox(
    owner: Persona, track: Track, client: Client
) -> None:
    with time_machine.travel(START, tick=False) as clock, receiving() as receiver:
        subscribe(owner, receiver.url)
        assert backlog(client) == {"genvoris_webhook_deliveries_due": 0, "genvoris_webhook_oldest_due_seconds": 0}
        track({"api_key": owner.secret})
        webhooks_dispatch(now=START)  # the delivery is due at START
        clock.shift(90)
        track({"api_key": owner.secret})
        webhooks_dispatch(now=START.replace(second=30))  # a second one, due 60 s ago by now
        assert backlog(client) == {"genvoris_webhook_deliveries_due": 2, "genvoris_webhook_oldest_due_seconds": 90}
        assert worker_pass() == 2
    assert backlog(client) == {"genvoris_webhook_deliveries_due": 0, "genvoris_webhook_oldest_due_seconds": 0}
