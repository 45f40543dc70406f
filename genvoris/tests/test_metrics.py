"""GET /metrics and what it counts (SPEC §20, issue 14): the domain moves with the track answers,
only after their commit; the endpoint answers only allowed addresses and the bearer token."""

import time
from typing import Any

import pytest
import time_machine
from django.test import Client
from prometheus_client import REGISTRY

from conftest import Persona, Track, make_persona
from quotas.services import end_customer_update
from quotas.sessions import session_mint, session_revoke

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-the-tests-0123456789"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Moved:
    """Samples before and after a block, compared by how much each moved."""

    def __init__(self, *names: tuple[str, dict[str, str]]) -> None:
        self.names = names
        self.before = [sample(name, **labels) for name, labels in names]

    def by(self) -> list[float]:
        return [sample(name, **labels) - b for (name, labels), b in zip(self.names, self.before, strict=True)]


TRACK_ROUTE = {"route": "api/tryon/track", "method": "POST"}


def test_a_debited_try_on_moves_the_try_ons_credits_and_the_request_histogram(owner: Persona, track: Track) -> None:
    moved = Moved(
        ("genvoris_tryons_total", {"outcome": "debited", "reason": ""}),
        ("genvoris_credits_debited_total", {}),
        ("genvoris_http_request_duration_seconds_count", {**TRACK_ROUTE, "status": "200"}),
    )
    assert track({"api_key": owner.secret}).status_code == 200
    assert moved.by() == [1, 1, 1]


def test_a_failed_try_on_debits_nothing(owner: Persona, track: Track) -> None:
    moved = Moved(
        ("genvoris_tryons_total", {"outcome": "failed", "reason": ""}), ("genvoris_credits_debited_total", {})
    )
    assert track({"api_key": owner.secret, "success": False}).status_code == 200
    assert moved.by() == [1, 0]


def test_402s_are_counted_by_reason(owner: Persona, track: Track) -> None:
    moved = Moved(
        ("genvoris_payment_required_total", {"reason": "paused"}),
        ("genvoris_payment_required_total", {"reason": "credit_limit_reached"}),
        ("genvoris_tryons_total", {"outcome": "blocked", "reason": "paused"}),
        ("genvoris_credits_debited_total", {}),
    )
    token = owner.token()
    end_customer_update(customer=owner.customer, status="PAUSED", now=owner.customer.updated_at)
    assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 402
    broke = make_persona("broke", credits=0)
    assert track({"api_key": broke.secret}).status_code == 402
    assert moved.by() == [1, 1, 1, 0]


def test_refusals_are_counted_by_code_and_token_failures_by_cause(owner: Persona, track: Track) -> None:
    moved = Moved(
        ("genvoris_tryons_total", {"outcome": "refused", "reason": "unauthorized"}),
        ("genvoris_tryons_total", {"outcome": "refused", "reason": "invalid_session_token"}),
        ("genvoris_token_verification_failures_total", {"cause": "malformed"}),
        ("genvoris_token_verification_failures_total", {"cause": "expired"}),
    )
    assert track({"api_key": owner.secret}, secret="wrong").status_code == 401
    assert track({"api_key": owner.secret, "end_customer_token": "not-a-jwt"}).status_code == 401
    expired = owner.token(expires_in=1)
    with time_machine.travel(time.time() + 3600, tick=False):
        assert track({"api_key": owner.secret, "end_customer_token": expired}).status_code == 401
    assert moved.by() == [1, 2, 1, 1]


def test_a_replay_is_counted_once_as_a_replay_and_not_as_a_try_on(owner: Persona, track: Track) -> None:
    track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="m-1")
    moved = Moved(
        ("genvoris_idempotent_replays_total", {"endpoint": "track"}),
        ("genvoris_tryons_total", {"outcome": "debited", "reason": ""}),
        ("genvoris_credits_debited_total", {}),
    )
    assert track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="m-1")["Idempotent-Replayed"] == "true"
    assert moved.by() == [1, 0, 0]


def test_requests_are_labelled_by_route_never_by_path(owner: Persona, client: Client) -> None:
    client.get(f"/portal/{owner.store.public_id}/events")
    client.get("/api/v1/no/such/" + "x" * 50)
    client.generic("BREW", "/")
    text = client.get("/metrics").content.decode()
    assert 'route="portal/<str:store_id>/events"' in text
    assert owner.store.public_id not in text
    assert "x" * 50 not in text
    assert 'method="other"' in text
    assert "BREW" not in text


# --- who may scrape --------------------------------------------------------------------------


@pytest.fixture
def scrape_settings(settings: Any) -> Any:
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    settings.METRICS_TOKEN = TOKEN
    return settings


def test_an_allowed_address_is_answered_with_the_exposition(scrape_settings: Any, client: Client) -> None:
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE genvoris_tryons_total counter" in text
    assert "genvoris_webhook_oldest_due_seconds 0.0" in text


def test_a_foreign_address_gets_the_404_of_any_unknown_path(scrape_settings: Any, client: Client) -> None:
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "genvoris" not in response.content.decode().replace("/metrics", "")


def test_a_proxy_on_loopback_does_not_make_its_callers_local(settings: Any, client: Client) -> None:
    settings.NUM_PROXIES = 1
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200


@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", TOKEN, f"Basic {TOKEN}"]
)
def test_a_wrong_token_is_refused(scrape_settings: Any, client: Client, authorization: str) -> None:
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=authorization).status_code == 404


def test_the_token_is_answered_from_anywhere(scrape_settings: Any, client: Client) -> None:
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200


def test_while_rotating_both_tokens_are_answered_and_only_they(scrape_settings: Any, client: Client) -> None:
    scrape_settings.METRICS_TOKEN = f"new-{TOKEN}, {TOKEN}"
    for token in (f"new-{TOKEN}", TOKEN):
        response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200
    for wrong in (f"new-{TOKEN}, {TOKEN}", "new-", ",", f"{TOKEN},"):
        response = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {wrong}")
        assert response.status_code == 404, wrong


def test_no_token_configured_accepts_no_token(settings: Any, client: Client) -> None:
    settings.METRICS_ALLOWED_IPS, settings.METRICS_TOKEN = [], ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer").status_code == 404


def test_only_get_is_answered(client: Client) -> None:
    response = client.post("/metrics")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_every_token_failure_cause_the_track_answers_has_its_own_label(owner: Persona, track: Track) -> None:
    other = make_persona("other")
    revoked = session_mint(customer=owner.customer, expires_in=900)
    session_revoke(customer=owner.customer, jti=revoked.jti)
    head, claims, _ = owner.token().split(".")
    other_signature = owner.token().rpartition(".")[2]  # of another token: well-formed, wrong for these claims
    tampered = f"{head}.{claims}.{other_signature}"
    causes = ["revoked", "failed_verification", "token_store_mismatch"]
    moved = Moved(*(("genvoris_token_verification_failures_total", {"cause": cause}) for cause in causes))
    assert track({"api_key": owner.secret, "end_customer_token": revoked.token}).status_code == 401
    assert track({"api_key": owner.secret, "end_customer_token": tampered}).status_code == 401
    assert track({"api_key": owner.secret, "end_customer_token": other.token()}).status_code == 403
    assert moved.by() == [1, 1, 1]
    assert owner.store.tryon_events.filter(debited=True).count() == 0
