"""The webhook worker as operators run it: separate processes racing over one outbox, killed
mid-attempt, stopped with SIGTERM; and one slow endpoint beside the others."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.utils import timezone

from stores.models import Store, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from stores.services import Actor
from stores.tests.receiver import Receiver, receiving
from stores.webhooks.runner import Runner
from stores.webhooks.services import webhook_endpoint_create
from stores.webhooks.worker import INTERRUPTED, LEASE, deliveries_claim, delivery_attempt, webhooks_dispatch

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]
ACTOR = Actor("test")


@pytest.fixture(autouse=True)
def _private_urls(settings: pytest.FixtureRequest) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # type: ignore[attr-defined]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def worker(*args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "genvoris.test_settings",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    }
    command = [sys.executable, "manage.py", "deliver_webhooks", *args]
    return subprocess.Popen(
        command, cwd=Path(settings.BASE_DIR), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def outbox(url: str, *, stores: int, events_per_store: int) -> list[WebhookEndpoint]:
    """`stores` stores with an endpoint each, and that many events each, fanned out: all due now."""
    endpoints = []
    for n in range(stores):
        store = Store.objects.create(name=f"Race {n}")
        endpoint, _ = webhook_endpoint_create(store=store, url=url, events=["credit.balance_added"], actor=ACTOR)
        endpoints.append(endpoint)
        WebhookEvent.objects.bulk_create(
            WebhookEvent(store=store, type="credit.balance_added", data={"n": i}) for i in range(events_per_store)
        )
    webhooks_dispatch(now=timezone.now())
    return endpoints


def wait_for(condition: "object", timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_over_200_deliveries_send_each_exactly_once() -> None:
    with receiving() as receiver:
        outbox(receiver.url, stores=20, events_per_store=10)
        assert WebhookDelivery.objects.filter(status="pending").count() == 200
        racers = [worker("--once", "--json", "--concurrency", "4") for _ in range(2)]
        results = []
        for racer in racers:
            out, err = racer.communicate(timeout=120)
            assert racer.returncode == 0, err
            results.append(json.loads(out))
        sent = [r.headers["x-genvoris-delivery"] for r in receiver.received]
    assert len(sent) == 200
    assert len(set(sent)) == 200
    assert sum(r["succeeded"] for r in results) == 200
    assert all(r["attempted"] > 0 for r in results), results  # both took part
    assert WebhookDelivery.objects.filter(status="succeeded", attempts=1).count() == 200
    assert WebhookAttempt.objects.count() == 200


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_leaves_it_to_be_retried_never_lost() -> None:
    with receiving(delay=5.0) as slow:
        (endpoint,) = outbox(slow.url, stores=1, events_per_store=1)
        process = worker("--concurrency", "2")
        wait_for(lambda: len(slow.received) == 1)  # the request is in flight at the receiver
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.PENDING, 1)
    # Nothing claims it again before the lease ends; then the next pass retries it.
    with receiving() as healthy:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=healthy.url)
        assert deliveries_claim(now=timezone.now(), limit=10) == []
        with time_machine.travel(timezone.now() + LEASE + timedelta(seconds=1), tick=False):
            (claim,) = deliveries_claim(now=timezone.now(), limit=10)
            assert delivery_attempt(claim).status == WebhookDelivery.Status.SUCCEEDED
        (retried,) = healthy.received
    assert retried.headers["x-genvoris-delivery"] == slow.received[0].headers["x-genvoris-delivery"]
    assert json.loads(retried.body)["id"] == json.loads(slow.received[0].body)["id"]
    first, second = WebhookAttempt.objects.filter(delivery=delivery).order_by("number")
    assert first.error == INTERRUPTED
    assert first.status_code is None
    assert second.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_sigterm_lets_the_attempt_in_flight_finish_then_exits() -> None:
    with receiving(delay=2.0) as slow:
        (endpoint,) = outbox(slow.url, stores=1, events_per_store=1)
        process = worker("--concurrency", "2", "--poll", "0.1")
        wait_for(lambda: len(slow.received) == 1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "SIGTERM" in err
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts) == (WebhookDelivery.Status.SUCCEEDED, 1)


@pytest.mark.django_db(transaction=True)
def test_a_slow_endpoint_does_not_hold_up_other_stores() -> None:
    slow = Receiver(delay=3.0).start()
    fast = Receiver().start()
    try:
        outbox(slow.url, stores=1, events_per_store=5)
        outbox(fast.url, stores=5, events_per_store=4)
        runner = Runner(concurrency=4, poll_seconds=0.05, report=lambda line: None)

        def run() -> None:
            runner.run(once=False)
            connection.close()  # this thread's own, so the test database can be dropped

        thread = threading.Thread(target=run)
        started = time.monotonic()
        thread.start()
        wait_for(lambda: len(fast.received) == 20, timeout=15)
        fast_done = time.monotonic() - started
        slow_seen = len(slow.received)
        runner.stopping.set()
        thread.join(timeout=30)
    finally:
        slow.stop()
        fast.stop()
    # All twenty of the other stores' deliveries went out while the slow endpoint had had at
    # most two of its five (one at a time, three seconds each): it held one thread, not the pool.
    assert slow_seen <= 2, (slow_seen, fast_done)
