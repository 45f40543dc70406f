"""/api/v1/webhooks as a merchant's server uses it: register, test, read the log, resend, rotate."""

import json
from typing import Any

import pytest
from django.utils import timezone

from conftest import V1, Persona
from stores.models import AuditEntry, WebhookDelivery, WebhookEndpoint
from stores.tests.receiver import receiving
from stores.tests.test_webhook_delivery import deliver_due, independent_verify
from stores.webhooks.worker import webhooks_dispatch


@pytest.fixture(autouse=True)
def _private_urls(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


def create(api: V1, **body: Any) -> dict[str, Any]:
    response = api.post("/webhooks", {"url": "http://127.0.0.1:9/hook", **body})
    assert response.status_code == 201, response.content
    return response.json()


def test_create_answers_the_endpoint_and_its_secret_once(api: V1, owner: Persona) -> None:
    created = create(api, events=["tryon.completed", "credit.low_balance"], description="Orders service")
    assert created["id"].startswith("whe_")
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["tryon.completed", "credit.low_balance"]
    assert created["description"] == "Orders service"
    assert created["active"] is True
    assert created["createdAt"].endswith("Z")
    listed = api.get("/webhooks").json()["data"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in api.get(f"/webhooks/{created['id']}").json()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.WEBHOOK_CREATED)
    assert entry.actor == f"api:{owner.key.prefix}"
    assert created["secret"] not in json.dumps(entry.detail)


def test_a_supplied_secret_signs_and_events_default_to_all(api: V1, owner: Persona) -> None:
    secret = "my-own-signing-secret-0123456789"
    with receiving() as receiver:
        created = create(api, url=receiver.url, secret=secret)
        assert created["events"] == ["*"]
        assert created["secret"] == secret
        assert api.post("/plans", {"name": "Gold", "monthlyTryOns": 30}).status_code == 201
        assert deliver_due() == 1
    (received,) = receiver.received
    assert independent_verify(received, secret, now=timezone.now().timestamp())
    assert json.loads(received.body)["type"] == "plan.created"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": ""}, "url"),
        ({"url": 7}, "url"),
        ({"url": "http://127.0.0.1:9/hook", "events": []}, "events"),
        ({"url": "http://127.0.0.1:9/hook", "events": ["tryon.exploded"]}, "events.0"),
        ({"url": "http://127.0.0.1:9/hook", "events": "tryon.completed"}, "events"),
        ({"url": "http://127.0.0.1:9/hook", "secret": "short"}, "secret"),
        ({"url": "http://127.0.0.1:9/hook", "secret": "x" * 30 + " \n"}, "secret"),
        ({"url": "http://127.0.0.1:9/hook", "description": "d" * 201}, "description"),
        ({"events": ["*"]}, "url"),
    ],
)
def test_bad_bodies_are_400_with_the_field_named(api: V1, body: dict[str, Any], field: str) -> None:
    response = api.post("/webhooks", body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_body"
    assert field in response.json()["fieldErrors"], response.json()
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
    ],
)
def test_private_or_plain_http_targets_are_refused_in_production(api: V1, settings: Any, url: str) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    response = api.post("/webhooks", {"url": url})
    assert response.status_code == 400, response.content
    assert "url" in response.json()["fieldErrors"]


def test_patch_changes_what_was_sent_and_disabling_holds_deliveries(api: V1) -> None:
    created = create(api, events=["plan.created"])
    path = f"/webhooks/{created['id']}"
    changed = api.patch(path, {"events": ["plan.updated", "plan.created"], "description": "Plans"}).json()
    assert changed["events"] == ["plan.created", "plan.updated"]  # catalogue order, each once
    assert changed["description"] == "Plans"
    disabled = api.patch(path, {"active": False})
    assert disabled.json()["active"] is False
    api.post("/plans", {"name": "Held", "monthlyTryOns": 3})
    webhooks_dispatch(now=timezone.now())
    assert not WebhookDelivery.objects.exists()  # a disabled endpoint subscribes to nothing
    assert api.patch(path, {"active": "no"}).status_code == 400
    assert api.patch(path, {"url": "gopher://x"}).status_code == 400


def test_delete_is_204_then_404(api: V1) -> None:
    created = create(api)
    assert api.delete(f"/webhooks/{created['id']}").status_code == 204
    assert api.get(f"/webhooks/{created['id']}").status_code == 404
    assert api.delete(f"/webhooks/{created['id']}").status_code == 404
    assert AuditEntry.objects.filter(action=AuditEntry.Action.WEBHOOK_DELETED).count() == 1


def test_test_ping_arrives_verified_and_is_in_the_log(api: V1) -> None:
    with receiving() as receiver:
        created = create(api, url=receiver.url, events=["tryon.completed"])
        answer = api.post(f"/webhooks/{created['id']}/test")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["response"]["ok"] is True
    assert body["response"]["statusCode"] == 200
    assert body["delivery"]["status"] == "succeeded"
    assert body["delivery"]["eventType"] == "webhook.test"
    (received,) = receiver.received
    assert received.headers["x-genvoris-delivery"] == body["delivery"]["id"]
    assert independent_verify(received, created["secret"], now=timezone.now().timestamp())
    log = api.get(f"/webhooks/{created['id']}/deliveries").json()
    assert [d["id"] for d in log["data"]] == [body["delivery"]["id"]]
    detail = api.get(f"/webhooks/{created['id']}/deliveries/{body['delivery']['id']}").json()
    assert detail["event"]["type"] == "webhook.test"
    assert detail["event"]["id"] == json.loads(received.body)["id"]
    (attempt,) = detail["attemptLog"]
    assert attempt["statusCode"] == 200
    assert attempt["responseExcerpt"] == '{"ok": true}'


def test_a_failing_test_ping_says_why_and_stays_queued(api: V1) -> None:
    with receiving(fail_first=-1, fail_status=503) as receiver:
        created = create(api, url=receiver.url)
        body = api.post(f"/webhooks/{created['id']}/test").json()
    assert body["response"]["ok"] is False
    assert body["response"]["statusCode"] == 503
    assert body["delivery"]["status"] == "failed"
    assert body["delivery"]["nextAttemptAt"] is not None


def test_test_pings_are_rate_limited_per_endpoint(api: V1) -> None:
    with receiving() as receiver:
        created = create(api, url=receiver.url)
        answers = [api.post(f"/webhooks/{created['id']}/test") for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 6 + [429]
    assert answers[-1].json()["error"] == "rate_limited"
    assert int(answers[-1]["Retry-After"]) >= 1
    assert len(receiver.received) == 6


def test_rotate_secret_signs_with_both_for_a_day(api: V1) -> None:
    with receiving() as receiver:
        created = create(api, url=receiver.url)
        rotated = api.post(f"/webhooks/{created['id']}/rotate-secret").json()
        assert rotated["secret"] != created["secret"]
        assert rotated["previousSecretExpiresAt"].endswith("Z")
        api.post(f"/webhooks/{created['id']}/test")
    (received,) = receiver.received
    now = timezone.now().timestamp()
    assert independent_verify(received, rotated["secret"], now=now)
    assert independent_verify(received, created["secret"], now=now)


def test_the_log_filters_pages_and_resends_dead_deliveries(api: V1) -> None:
    created = create(api, events=["plan.created", "plan.updated"])
    for name in ("A", "B", "C"):
        api.post("/plans", {"name": name, "monthlyTryOns": 3})
    plan = api.get("/plans").json()["data"][0]
    api.patch(f"/plans/{plan['id']}", {"name": "A2"})
    webhooks_dispatch(now=timezone.now())
    path = f"/webhooks/{created['id']}/deliveries"
    everything = api.get(path).json()["data"]
    assert [d["eventType"] for d in everything] == ["plan.updated", "plan.created", "plan.created", "plan.created"]
    assert [d["eventType"] for d in api.get(path, event_type="plan.updated").json()["data"]] == ["plan.updated"]
    walked, cursor = [], None
    while True:
        page = api.get(path, limit=1, **({"cursor": cursor} if cursor else {})).json()
        walked += [d["id"] for d in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == [d["id"] for d in everything]

    dead = WebhookDelivery.objects.get(public_id=everything[-1]["id"])
    WebhookDelivery.objects.filter(pk=dead.pk).update(status="dead", attempts=9, next_attempt_at=None)
    assert [d["id"] for d in api.get(path, status="dead").json()["data"]] == [dead.public_id]
    resent = api.post(f"{path}/{dead.public_id}/resend")
    assert resent.status_code == 200, resent.content
    assert resent.json()["status"] == "pending"
    again = api.post(f"{path}/{dead.public_id}/resend")
    assert again.status_code == 400
    assert "status" in again.json()["fieldErrors"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"status": "lost"}, "status"), ({"cursor": "bad"}, "cursor")],
)
def test_bad_log_queries_are_400(api: V1, params: dict[str, Any], field: str) -> None:
    created = create(api)
    response = api.get(f"/webhooks/{created['id']}/deliveries", **params)
    assert response.status_code == 400
    assert field in response.json()["fieldErrors"]


def test_another_stores_endpoint_is_404_everywhere(api: V1, outsider_api: V1) -> None:
    created = create(api)
    delivery = api.post(f"/webhooks/{created['id']}/test").json()["delivery"]["id"]
    theirs = f"/webhooks/{created['id']}"
    assert outsider_api.get("/webhooks").json() == {"data": []}
    for response in (
        outsider_api.get(theirs),
        outsider_api.patch(theirs, {"active": False}),
        outsider_api.delete(theirs),
        outsider_api.post(f"{theirs}/test"),
        outsider_api.post(f"{theirs}/rotate-secret"),
        outsider_api.get(f"{theirs}/deliveries"),
        outsider_api.get(f"{theirs}/deliveries/{delivery}"),
        outsider_api.post(f"{theirs}/deliveries/{delivery}/resend"),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["error"] == "not_found"
    assert WebhookEndpoint.objects.get(public_id=created["id"]).active


@pytest.mark.parametrize("junk", ["nope", "whe_" + "0" * 26, "x" * 5000, "whe_%00"])
def test_junk_ids_are_json_404(api: V1, junk: str) -> None:
    response = api.get(f"/webhooks/{junk}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_publishable_keys_and_strangers_are_refused(client: Any, owner: Persona) -> None:
    publishable = V1(client, owner.publishable.plaintext)  # type: ignore[attr-defined]
    assert publishable.get("/webhooks").status_code == 403
    assert publishable.post("/webhooks", {"url": "http://127.0.0.1:9/h"}).json()["error"] == "insufficient_scope"
    assert client.get("/api/v1/webhooks").status_code == 401
    assert client.post("/api/v1/webhooks", "{}", content_type="application/json").status_code == 401
