"""The status answer (tryon/status.py, tryon/status_api.py; SPEC §15) through each of its three
doors: every access state, the balance only for a secret key on /api/v1, the errors, the
10-second cache, the rate limits and the statement budget."""

import pickle
from datetime import timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import pytest
import time_machine
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import Persona, make_persona
from genvoris.fields import iso_utc
from quotas.models import EndCustomer, UsagePeriod
from quotas.services import end_customer_update
from quotas.sessions import session_mint, session_revoke, session_verify
from quotas.tests.factories import EndCustomerFactory
from stores.models import ApiKey
from stores.services import SYSTEM, api_key_revoke, store_suspend
from stores.tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

PATHS = ["v1", "public", "widget"]


def ask(client: Client, path: str, key: str, token: str | None = None, **headers: str) -> Any:
    """One status request the way each consumer sends it."""
    if path == "v1":
        params = {"token": token} if token else {}
        return client.get("/api/v1/status", params, headers={"Authorization": f"Bearer {key}", **headers})
    if path == "public":
        return client.get("/status", {"api_key": key, **({"token": token} if token else {})}, headers=headers)
    fields = {"api_key": key, **({"end_customer_token": token} if token else {})}
    return client.post(
        "/api/tryon/status", urlencode(fields), content_type="application/x-www-form-urlencoded", headers=headers
    )


def key_for(persona: Persona, path: str) -> str:
    """A secret key where one is needed; the publishable one the widget and plugins hold elsewhere."""
    key = persona.key if path == "v1" else persona.publishable
    return key.plaintext  # type: ignore[attr-defined]


def status_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "private, max-age=10"
    return response.json()


def refused(response: Any, status: int, code: str, access: str = "LOCKED") -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["error"], body["access"]) == (code, access)
    assert body["message"]
    assert body["detail"]
    assert response["Cache-Control"] == "no-store"
    return body


# --- every access state, through every door ------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
class TestAccessStates:
    def test_allowed_without_a_token(self, client: Client, owner: Persona, path: str) -> None:
        body = status_of(ask(client, path, key_for(owner, path)))
        assert body | {"message": ""} == {
            "access": "ALLOWED",
            "reason": None,
            "message": "",
            "plan": None,
            "externalId": None,
            **({"credits": {"remaining": 100, "lowBalance": False}} if path == "v1" else {}),
        }
        assert body["message"] == "Virtual try-on is available."

    def test_allowed_with_a_token_carries_the_shoppers_period(self, client: Client, owner: Persona, path: str) -> None:
        UsagePeriod.objects.filter(customer=owner.customer).update(used=4)
        body = status_of(ask(client, path, key_for(owner, path), owner.token()))
        assert (body["access"], body["reason"]) == ("ALLOWED", None)
        assert body["quota"] == {"used": 4, "limit": 10, "resetsAt": iso_utc(owner.customer.period_end)}
        assert (body["plan"], body["externalId"]) == (owner.plan.name, owner.customer.external_id)
        assert body["message"] == "Virtual try-on is available: 6 of 10 try-ons left this period."

    def test_suspended_store(self, client: Client, owner: Persona, path: str) -> None:
        token = owner.token()
        store_suspend(store=owner.store, note="unpaid", actor=SYSTEM)
        body = status_of(ask(client, path, key_for(owner, path), token))
        assert (body["access"], body["reason"]) == ("LOCKED", "store_suspended")
        assert "quota" not in body  # suspended: the shopper is not even read
        assert "unpaid" not in body["message"]  # support's reason stays between support and the merchant

    def test_revoked_key(self, client: Client, owner: Persona, path: str) -> None:
        key = owner.key if path == "v1" else owner.publishable
        api_key_revoke(key=key)
        body = status_of(ask(client, path, key.plaintext, owner.token()))  # type: ignore[attr-defined]
        assert (body["access"], body["reason"]) == ("LOCKED", "key_revoked")
        assert "credits" not in body
        assert "quota" not in body

    @pytest.mark.parametrize("status", ["PAUSED", "CANCELLED"])
    def test_paused_or_cancelled_customer(self, client: Client, owner: Persona, path: str, status: str) -> None:
        token = owner.token()
        end_customer_update(customer=owner.customer, status=status, now=timezone.now())
        body = status_of(ask(client, path, key_for(owner, path), token))
        assert (body["access"], body["reason"]) == ("LOCKED", status.lower())
        assert body["quota"]["limit"] == 10
        assert body["externalId"] == owner.customer.external_id

    def test_no_plan(self, client: Client, owner: Persona, path: str) -> None:
        customer = EndCustomerFactory(store=owner.store, plan=None, external_id="planless")
        body = status_of(ask(client, path, key_for(owner, path), owner.token(customer)))
        assert (body["access"], body["reason"], body["plan"]) == ("LOCKED", "no_plan", None)
        assert body["quota"]["limit"] == 0

    def test_quota_used_up(self, client: Client, owner: Persona, path: str) -> None:
        UsagePeriod.objects.filter(customer=owner.customer).update(used=10)
        body = status_of(ask(client, path, key_for(owner, path), owner.token()))
        assert (body["access"], body["reason"]) == ("EXHAUSTED", "quota_exhausted")
        assert (body["quota"]["used"], body["quota"]["limit"]) == (10, 10)
        assert body["message"].startswith("You have used all 10 try-ons of this period; they renew on ")

    def test_no_credits(self, client: Client, db: None, path: str) -> None:
        broke = make_persona("broke", credits=0)
        body = status_of(ask(client, path, key_for(broke, path)))
        assert (body["access"], body["reason"]) == ("EXHAUSTED", "credits_exhausted")
        if path == "v1":
            assert body["credits"] == {"remaining": 0, "lowBalance": True}

    def test_the_shoppers_quota_is_reported_before_the_stores_credits(
        self, client: Client, db: None, path: str
    ) -> None:
        broke = make_persona("broke", credits=0)
        UsagePeriod.objects.filter(customer=broke.customer).update(used=10)
        body = status_of(ask(client, path, key_for(broke, path), broke.token()))
        assert (body["access"], body["reason"]) == ("EXHAUSTED", "quota_exhausted")  # track's order: 7, then 8

    def test_an_ended_period_reads_as_the_fresh_one_and_writes_nothing(
        self, client: Client, owner: Persona, path: str
    ) -> None:
        UsagePeriod.objects.filter(customer=owner.customer).update(used=10)
        with time_machine.travel(owner.customer.period_end + timedelta(days=1)):
            body = status_of(ask(client, path, key_for(owner, path), owner.token()))
        assert (body["access"], body["quota"]["used"], body["quota"]["limit"]) == ("ALLOWED", 0, 10)
        assert body["quota"]["resetsAt"] == iso_utc(owner.customer.period_end + timedelta(days=30))
        assert UsagePeriod.objects.filter(customer=owner.customer).count() == 1
        assert EndCustomer.objects.get(pk=owner.customer.pk).period_end == owner.customer.period_end


# --- the balance ---------------------------------------------------------------------------------


class TestBalance:
    def test_a_secret_key_on_v1_gets_the_balance_and_the_low_balance_flag(self, client: Client, db: None) -> None:
        low = make_persona("low", credits=5)
        assert status_of(ask(client, "v1", low.secret))["credits"] == {"remaining": 5, "lowBalance": True}

    @pytest.mark.parametrize("path", ["public", "widget"])
    @pytest.mark.parametrize("kind", ["publishable", "secret"])
    def test_never_on_the_public_doors_whatever_the_key(
        self, client: Client, owner: Persona, path: str, kind: str
    ) -> None:
        key = owner.publishable if kind == "publishable" else owner.key
        for token in (None, owner.token()):
            response = ask(client, path, key.plaintext, token)  # type: ignore[attr-defined]
            assert "credits" not in status_of(response)
            assert b"remaining" not in response.content
            assert b"lowBalance" not in response.content

    def test_a_publishable_key_on_v1_is_403(self, client: Client, owner: Persona) -> None:
        refused(ask(client, "v1", owner.publishable.plaintext), 403, "insufficient_scope")  # type: ignore[attr-defined]


# --- bad credentials and tokens ------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
class TestRefusals:
    def test_an_unknown_key_is_401(self, client: Client, db: None, path: str) -> None:
        refused(ask(client, path, "gvk_live_" + "x" * 32), 401, "invalid_key")
        refused(ask(client, path, "nonsense"), 401, "invalid_key")

    def test_a_malformed_token_is_401(self, client: Client, owner: Persona, path: str) -> None:
        refused(ask(client, path, key_for(owner, path), "not-a-jwt"), 401, "invalid_session_token")

    def test_an_expired_token_is_401(self, client: Client, owner: Persona, path: str) -> None:
        token = owner.token(expires_in=60)
        with time_machine.travel(timezone.now() + timedelta(seconds=200)):
            refused(ask(client, path, key_for(owner, path), token), 401, "invalid_session_token")

    def test_a_revoked_token_is_401(self, client: Client, owner: Persona, path: str) -> None:
        minted = session_mint(customer=owner.customer)
        session_revoke(customer=owner.customer, jti=minted.jti)
        body = refused(ask(client, path, key_for(owner, path), minted.token), 401, "invalid_session_token")
        assert "revoked" in body["detail"]

    def test_another_stores_token_is_403(self, client: Client, owner: Persona, outsider: Persona, path: str) -> None:
        refused(ask(client, path, key_for(owner, path), outsider.token()), 403, "token_store_mismatch")

    def test_a_deleted_customers_token_is_401(self, client: Client, owner: Persona, path: str) -> None:
        token = owner.token()
        EndCustomer.objects.filter(pk=owner.customer.pk).delete()
        refused(ask(client, path, key_for(owner, path), token), 401, "invalid_session_token")

    def test_an_oversized_token_is_400(self, client: Client, owner: Persona, path: str) -> None:
        body = refused(ask(client, path, key_for(owner, path), "x" * 8193), 400, "invalid_body", access="ERROR")
        assert body["fieldErrors"]

    def test_the_database_down_is_503_error(self, client: Client, owner: Persona, path: str) -> None:
        target = "tryon.status_api.status_decide"
        with mock.patch(target, side_effect=OperationalError("connection refused")):
            response = ask(client, path, key_for(owner, path))
        body = refused(response, 503, "unavailable", access="ERROR")
        assert response["Retry-After"] == "1"
        assert "connection refused" not in body["detail"]


def test_v1_without_credentials_is_401(client: Client, db: None) -> None:
    refused(client.get("/api/v1/status"), 401, "unauthorized")


@pytest.mark.parametrize("path", ["public", "widget"])
def test_a_missing_key_is_401(client: Client, db: None, path: str) -> None:
    response = (
        client.get("/status")
        if path == "public"
        else client.post("/api/tryon/status", "", content_type="application/x-www-form-urlencoded")
    )
    refused(response, 401, "invalid_key")


def test_the_database_down_while_authenticating_on_v1_is_503_error(client: Client, owner: Persona) -> None:
    with mock.patch("tryon.status_api.api_key_by_plaintext", side_effect=OperationalError("down")):
        refused(ask(client, "v1", owner.secret), 503, "unavailable", access="ERROR")


# --- the doors' own conventions -------------------------------------------------------------------


class TestPublicDoors:
    def test_the_key_may_come_in_x_api_key(self, client: Client, owner: Persona) -> None:
        response = client.get("/status", headers={"X-API-Key": owner.publishable.plaintext})  # type: ignore[attr-defined]
        assert status_of(response)["access"] == "ALLOWED"
        assert "X-API-Key" in response["Vary"]

    def test_end_customer_token_is_an_alias_of_token(self, client: Client, owner: Persona) -> None:
        params = {"api_key": owner.publishable.plaintext, "end_customer_token": owner.token()}  # type: ignore[attr-defined]
        assert status_of(client.get("/status", params))["quota"]["limit"] == 10

    def test_the_widget_may_send_multipart_or_json(self, client: Client, owner: Persona) -> None:
        fields = {"api_key": owner.publishable.plaintext, "end_customer_token": owner.token()}  # type: ignore[attr-defined]
        assert status_of(client.post("/api/tryon/status", fields))["quota"]["limit"] == 10
        assert status_of(client.post("/api/tryon/status", fields, content_type="application/json"))["access"]

    def test_an_empty_token_is_legacy_mode(self, client: Client, owner: Persona) -> None:
        fields = urlencode({"api_key": owner.publishable.plaintext, "end_customer_token": ""})  # type: ignore[attr-defined]
        response = client.post("/api/tryon/status", fields, content_type="application/x-www-form-urlencoded")
        assert "quota" not in status_of(response)

    @pytest.mark.parametrize("body", ["[]", '"gvk_pub_x"', '{"api_key": 42}', '{"api_key": ["a"]}'])
    def test_a_json_body_must_be_an_object_of_text(self, client: Client, db: None, body: str) -> None:
        response = client.post("/api/tryon/status", body, content_type="application/json")
        refused(response, 400, "invalid_body", access="ERROR")

    def test_a_large_body_is_413(self, client: Client, owner: Persona) -> None:
        fields = urlencode({"api_key": owner.publishable.plaintext, "pad": "x" * 20_000})  # type: ignore[attr-defined]
        response = client.post("/api/tryon/status", fields, content_type="application/x-www-form-urlencoded")
        refused(response, 413, "payload_too_large", access="ERROR")

    def test_a_text_body_is_415(self, client: Client, owner: Persona) -> None:
        response = client.post("/api/tryon/status", "api_key=x", content_type="text/plain")
        refused(response, 415, "unsupported_media_type", access="ERROR")

    @pytest.mark.parametrize(("path", "methods"), [("/status", "GET, OPTIONS"), ("/api/tryon/status", "POST, OPTIONS")])
    def test_cors_like_the_generate_call(self, client: Client, owner: Persona, path: str, methods: str) -> None:
        preflight = client.options(path, headers={"Origin": "https://shop.example"})
        assert preflight.status_code == 204
        assert preflight["Access-Control-Allow-Origin"] == "https://shop.example"
        assert preflight["Access-Control-Allow-Methods"] == methods
        for key in (owner.publishable.plaintext, "gvk_pub_" + "x" * 32):  # type: ignore[attr-defined]
            response = ask(client, "public" if path == "/status" else "widget", key, Origin="https://shop.example")
            assert response["Access-Control-Allow-Origin"] == "https://shop.example"  # errors too
            assert "Origin" in response["Vary"]

    @pytest.mark.parametrize("path", ["/status", "/api/tryon/status"])
    def test_other_methods_are_405_in_the_envelope(self, client: Client, path: str) -> None:
        refused(client.put(path), 405, "method_not_allowed", access="ERROR")

    @pytest.mark.parametrize("path", ["public", "widget"])
    def test_an_origin_outside_the_allowlist_is_locked(self, client: Client, owner: Persona, path: str) -> None:
        key = ApiKeyFactory(store=owner.store, kind=ApiKey.Kind.PUBLISHABLE, allowed_domains=["shop.example"])
        text = key.plaintext  # type: ignore[attr-defined]
        outside = status_of(ask(client, path, text, Origin="https://elsewhere.example"))
        assert (outside["access"], outside["reason"]) == ("LOCKED", "domain_not_allowed")
        assert "shop.example" not in str(outside)  # never the allowlist itself
        assert status_of(ask(client, path, text, Origin="https://shop.example"))["access"] == "ALLOWED"
        # A plugin's server sends no Origin; the shopper's browser does, at generate.
        assert status_of(ask(client, path, text))["access"] == "ALLOWED"


# --- the 10-second cache --------------------------------------------------------------------------


class TestCache:
    def test_neither_key_nor_token_is_written_to_the_cache(self, client: Client, owner: Persona) -> None:
        token = owner.token()
        status_of(ask(client, "public", owner.publishable.plaintext, token))  # type: ignore[attr-defined]
        status_of(ask(client, "v1", owner.secret, token))
        stored = cache._cache  # type: ignore[attr-defined]  # the test settings' local-memory cache
        assert len([k for k in stored if k.startswith(":1:status:")]) == 2
        for cache_key in stored:  # the answers and the rate-limit counters alike
            dump = cache_key + str(pickle.loads(stored[cache_key]))
            assert owner.publishable.plaintext not in dump
            assert owner.secret not in dump
            assert token not in dump
            assert token.rsplit(".", 1)[1] not in dump

    @pytest.mark.parametrize("path", PATHS)
    def test_an_answer_is_kept_ten_seconds_and_no_longer(self, client: Client, owner: Persona, path: str) -> None:
        token = owner.token()
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            assert status_of(ask(client, path, key_for(owner, path), token))["access"] == "ALLOWED"
        UsagePeriod.objects.filter(customer=owner.customer).update(used=10)
        with time_machine.travel(start + timedelta(seconds=9), tick=False):
            assert status_of(ask(client, path, key_for(owner, path), token))["access"] == "ALLOWED"  # cached
        with time_machine.travel(start + timedelta(seconds=11), tick=False):
            assert status_of(ask(client, path, key_for(owner, path), token))["access"] == "EXHAUSTED"

    def test_a_revocation_shows_within_ten_seconds(self, client: Client, owner: Persona) -> None:
        minted = session_mint(customer=owner.customer)
        start = timezone.now()
        with time_machine.travel(start, tick=False):
            status_of(ask(client, "widget", owner.publishable.plaintext, minted.token))  # type: ignore[attr-defined]
            session_revoke(customer=owner.customer, jti=minted.jti)
        with time_machine.travel(start + timedelta(seconds=11), tick=False):
            response = ask(client, "widget", owner.publishable.plaintext, minted.token)  # type: ignore[attr-defined]
            refused(response, 401, "invalid_session_token")

    def test_a_token_is_cached_apart_from_no_token(self, client: Client, owner: Persona) -> None:
        UsagePeriod.objects.filter(customer=owner.customer).update(used=10)
        key = owner.publishable.plaintext  # type: ignore[attr-defined]
        assert status_of(ask(client, "public", key))["access"] == "ALLOWED"
        assert status_of(ask(client, "public", key, owner.token()))["access"] == "EXHAUSTED"

    def test_a_cache_outage_reads_the_database(self, client: Client, owner: Persona) -> None:
        with (
            mock.patch.object(cache, "get", side_effect=ConnectionError("cache down")),
            mock.patch.object(cache, "set", side_effect=ConnectionError("cache down")),
            mock.patch.object(cache, "add", side_effect=ConnectionError("cache down")),
        ):
            assert status_of(ask(client, "public", owner.publishable.plaintext))["access"] == "ALLOWED"  # type: ignore[attr-defined]

    def test_errors_are_not_cached(self, client: Client, owner: Persona) -> None:
        key = owner.publishable.plaintext  # type: ignore[attr-defined]
        with mock.patch("tryon.status_api.status_decide", side_effect=OperationalError("down")):
            refused(ask(client, "public", key), 503, "unavailable", access="ERROR")
        assert status_of(ask(client, "public", key))["access"] == "ALLOWED"


# --- rate limits ----------------------------------------------------------------------------------


class TestRateLimits:
    @pytest.mark.parametrize("path", ["public", "widget"])
    def test_reads_of_the_database_per_address_and_key(
        self, client: Client, owner: Persona, outsider: Persona, settings: Any, path: str
    ) -> None:
        settings.STATUS_PER_MINUTE = 2
        key = owner.publishable.plaintext  # type: ignore[attr-defined]
        tokens = [owner.token() for _ in range(3)]
        assert [ask(client, path, key, t).status_code for t in tokens[:2]] == [200, 200]
        limited = refused(ask(client, path, key, tokens[2]), 429, "rate_limited", access="ERROR")
        assert limited["detail"]
        assert 1 <= int(ask(client, path, key, tokens[2])["Retry-After"]) <= 60
        assert ask(client, path, key, tokens[0]).status_code == 200  # a cached answer costs nothing
        assert ask(client, path, key_for(outsider, path)).status_code == 200  # another key: its own budget

    def test_unknown_keys_count_as_failed_authentications(self, client: Client, owner: Persona, settings: Any) -> None:
        settings.AUTH_FAILURE_LIMIT = 3
        answers = [ask(client, "public", f"gvk_pub_{i:032d}").status_code for i in range(5)]
        assert answers == [401, 401, 401, 429, 429]
        # The address is limited only for failing keys: a real one still gets through.
        assert ask(client, "public", owner.publishable.plaintext).status_code == 200  # type: ignore[attr-defined]


# --- the statement budget (SPEC §15: at most 3) ----------------------------------------------------


class TestBudget:
    @pytest.fixture(autouse=True)
    def _warm_signing_keys(self, owner: Persona) -> None:
        # As on a server that has run a minute: the verifying keys are cached per process.
        session_verify(owner.token())

    def test_v1_with_a_token_costs_three_with_a_key_not_used_this_minute(
        self, client: Client, owner: Persona, at_most: Any
    ) -> None:
        token = owner.token()
        with at_most(3):  # the key with its store, its last-used time, the shopper
            assert status_of(ask(client, "v1", owner.secret, token))["access"] == "ALLOWED"
        cache.clear()
        with at_most(2):
            assert status_of(ask(client, "v1", owner.secret, token))["access"] == "ALLOWED"

    @pytest.mark.parametrize("path", ["public", "widget"])
    def test_a_public_door_costs_two_with_a_token_and_one_without(
        self, client: Client, owner: Persona, at_most: Any, path: str
    ) -> None:
        key, token = owner.publishable.plaintext, owner.token()  # type: ignore[attr-defined]
        with at_most(2):
            assert status_of(ask(client, path, key, token))["quota"]
        with at_most(1):
            assert status_of(ask(client, path, key))["access"] == "ALLOWED"

    @pytest.mark.parametrize("path", ["public", "widget"])
    def test_a_cached_answer_costs_nothing(self, client: Client, owner: Persona, at_most: Any, path: str) -> None:
        key, token = owner.publishable.plaintext, owner.token()  # type: ignore[attr-defined]
        ask(client, path, key, token)
        with at_most(0):
            assert status_of(ask(client, path, key, token))["quota"]

    def test_a_cached_answer_on_v1_costs_the_key(self, client: Client, owner: Persona, at_most: Any) -> None:
        token = owner.token()
        ask(client, "v1", owner.secret, token)
        with at_most(1):
            assert status_of(ask(client, "v1", owner.secret, token))["quota"]

    @pytest.mark.parametrize("path", PATHS)
    def test_a_refused_token_costs_at_most_the_key_and_the_shopper(
        self, client: Client, owner: Persona, outsider: Persona, at_most: Any, path: str
    ) -> None:
        token = outsider.token()
        with at_most(3):
            assert ask(client, path, key_for(owner, path), token).status_code == 403
        with at_most(2):
            assert ask(client, path, key_for(owner, path), "not-a-jwt").status_code == 401

    def test_a_status_read_writes_nothing(self, client: Client, owner: Persona) -> None:
        with CaptureQueriesContext(connection) as captured:
            for path in ("public", "widget"):
                ask(client, path, owner.publishable.plaintext, owner.token())  # type: ignore[attr-defined]
        writes = [
            q["sql"]
            for q in captured.captured_queries
            if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        ]
        # owner.token() mints (one INSERT each); the status reads write nothing.
        assert len(writes) == 2
        assert all(w.lstrip().upper().startswith("INSERT") for w in writes)
