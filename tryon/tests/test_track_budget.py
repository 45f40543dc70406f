"""The track endpoint's statement budget (SPEC §3), pinned: statement counts are not noisy.

Counted like `django_assert_max_num_queries`, but without transaction control (BEGIN, COMMIT,
SAVEPOINT, RELEASE, ROLLBACK), which the spec does not count and which differs between a test's
enclosing transaction and production's durable one.
"""

from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

from conftest import Persona, Track
from quotas import sessions
from quotas.services import end_customer_update
from quotas.sessions import session_revoke
from stores.models import WebhookEvent
from stores.services import Actor, store_update
from stores.webhooks.services import webhook_endpoint_create
from tryon.models import TryOnEvent

pytestmark = pytest.mark.django_db

Budget = Callable[[int], Any]
ACTOR = Actor("test")


@pytest.fixture
def warm(owner: Persona, track: Track) -> None:
    """One try-on first: the key's last-used time is fresh and the signing keys are cached, as on
    a server that has been running for more than a minute."""
    assert track({"api_key": owner.secret, "end_customer_token": owner.token()}).status_code == 200


@pytest.mark.usefixtures("warm")
class TestSuccess:
    def test_legacy_costs_four(self, owner: Persona, track: Track, at_most: Budget) -> None:
        with at_most(4):
            assert track({"api_key": owner.secret}).status_code == 200

    def test_legacy_with_an_idempotency_key_costs_five(self, owner: Persona, track: Track, at_most: Budget) -> None:
        with at_most(5):
            assert track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="k-1").status_code == 200

    def test_per_customer_costs_six(self, owner: Persona, track: Track, at_most: Budget) -> None:
        token = owner.token()
        with at_most(6):
            assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 200

    def test_per_customer_with_an_idempotency_key_costs_seven(
        self, owner: Persona, track: Track, at_most: Budget
    ) -> None:
        token = owner.token()
        with at_most(7):
            response = track({"api_key": owner.secret, "end_customer_token": token}, HTTP_IDEMPOTENCY_KEY="k-2")
            assert response.status_code == 200

    def test_verifying_parses_no_key(self, owner: Persona, track: Track) -> None:
        token = owner.token()
        with mock.patch.object(sessions.RSAAlgorithm, "from_jwk", side_effect=AssertionError("parsed")):
            assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 200

    def test_a_replay_costs_the_rolled_back_attempt_and_one_read(
        self, owner: Persona, track: Track, at_most: Budget
    ) -> None:
        track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="k-3")
        with at_most(6):
            assert track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="k-3")["Idempotent-Replayed"] == "true"
        assert TryOnEvent.objects.filter(debited=True).count() == 2  # the warm-up's and k-3's


@pytest.mark.usefixtures("warm")
class TestRefusals:
    def test_a_wrong_secret_costs_nothing(self, owner: Persona, track: Track, at_most: Budget) -> None:
        with at_most(0):
            assert track({"api_key": owner.secret}, secret="wrong").status_code == 401

    def test_an_unknown_key_costs_one(self, track: Track, at_most: Budget) -> None:
        with at_most(1):
            assert track({"api_key": "gvk_live_" + "x" * 32}).status_code == 401

    @pytest.mark.parametrize(
        "token",
        [
            "not-a-jwt",
            # Well formed, with a kid of ours that no key has: no query for the made-up kid.
            "eyJhbGciOiJSUzI1NiIsImtpZCI6Imd2LTAxbThzbmhiZzB2ZGJoY3BncmE0eTQ0enA2IiwidHlwIjoiSldUIn0.e30.c2ln",
        ],
    )
    def test_a_bad_token_costs_the_key_and_its_refusal_count(
        self, owner: Persona, track: Track, at_most: Budget, token: str
    ) -> None:
        # The count is what shows the merchant refusals a stranger caused (SPEC §3).
        with at_most(2):
            assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 401

    def test_a_revoked_token_costs_the_customer_read(self, owner: Persona, track: Track, at_most: Budget) -> None:
        minted = sessions.session_mint(customer=owner.customer)
        session_revoke(customer=owner.customer, jti=minted.jti)
        with at_most(3):
            assert track({"api_key": owner.secret, "end_customer_token": minted.token}).status_code == 401

    def test_a_paused_customer_costs_the_blocked_event(self, owner: Persona, track: Track, at_most: Budget) -> None:
        token = owner.token()
        end_customer_update(customer=owner.customer, status="PAUSED", now=owner.customer.updated_at)
        with at_most(3):
            assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 402


@pytest.fixture
def star_endpoint(owner: Persona, settings: Any) -> None:
    """An endpoint subscribed to every event: `tryon.*` rides on the committed `TryOnEvent` row
    (the outbox), so the debit writes nothing more for it."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    webhook_endpoint_create(store=owner.store, url="https://127.0.0.1:9/genvoris", events=["*"], actor=ACTOR)
    owner.refresh()


@pytest.mark.usefixtures("star_endpoint", "warm")
class TestWithAnEndpoint:
    def test_legacy_still_costs_four(self, owner: Persona, track: Track, at_most: Budget) -> None:
        with at_most(4):
            assert track({"api_key": owner.secret}).status_code == 200

    def test_per_customer_still_costs_six(self, owner: Persona, track: Track, at_most: Budget) -> None:
        token = owner.token()
        with at_most(6):
            assert track({"api_key": owner.secret, "end_customer_token": token}).status_code == 200

    def test_the_debit_that_crosses_the_threshold_costs_one_more(
        self, owner: Persona, track: Track, at_most: Budget
    ) -> None:
        store_update(store=owner.store, low_balance_threshold=owner.store.credit_balance)
        owner.refresh()
        with at_most(5) as statements:
            assert track({"api_key": owner.secret}).status_code == 200
        assert WebhookEvent.objects.filter(store=owner.store, type="credit.low_balance").count() == 1
        with at_most(4):  # the next debit is below the threshold already: nothing to emit
            assert track({"api_key": owner.secret}).status_code == 200
        assert any("INSERT" in sql.upper() and "webhook" in sql.lower() for sql in statements)
