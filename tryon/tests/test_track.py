"""POST /api/tryon/track: the published error matrix, body handling, and what gets recorded."""

import json
from typing import Any

import pytest

from conftest import INTERNAL_SECRET, Persona, Track
from quotas.models import EndCustomer, UsagePeriod
from stores.models import ApiKey, KeyRefusal, Store
from stores.services import SYSTEM, api_key_revoke, store_suspend
from stores.tests.factories import ApiKeyFactory
from tryon.models import TryOnEvent

pytestmark = pytest.mark.django_db


def balance(persona: Persona) -> int:
    return Store.objects.get(pk=persona.store.pk).credit_balance


def used(customer: EndCustomer) -> int:
    return UsagePeriod.objects.get(
        customer=customer, period_start=EndCustomer.objects.get(pk=customer.pk).period_start
    ).used


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code
    assert body["message"]
    assert body["detail"]
    assert response["X-Request-Id"]
    return body


def assert_nothing_debited(persona: Persona, credits: int = 100) -> None:
    assert balance(persona) == credits
    assert not TryOnEvent.objects.filter(store=persona.store, debited=True).exists()


class TestSuccess:
    def test_legacy_mode_debits_one_credit_and_records_the_event(self, owner: Persona, track: Track) -> None:
        body = {
            "api_key": owner.secret,
            "product_type": "apparel",
            "variation_count": 4,
            "generation_time_ms": 1820,
            "success": True,
            "page_url": "https://shop.com/p/dress-42",
            "product_title": "Black Wrap Dress",
            "origin": "https://shop.com",
        }
        response = track(body)
        assert response.status_code == 200
        assert response.json() == {"success": True, "remaining_credits": 99, "variation_count": 4}
        assert balance(owner) == 99
        event = TryOnEvent.objects.get(store=owner.store)
        assert (event.outcome, event.debited, event.variation_count) == ("debited", True, 4)
        assert (event.product_title, event.page_url, event.generation_time_ms) == (
            "Black Wrap Dress",
            "https://shop.com/p/dress-42",
            1820,
        )
        assert event.public_id.startswith("tro_")

    def test_per_customer_mode_debits_credit_and_quota(self, owner: Persona, track: Track) -> None:
        response = track({"api_key": owner.secret, "end_customer_token": owner.token()})
        assert response.status_code == 200
        assert response.json() == {
            "success": True,
            "remaining_credits": 99,
            "variation_count": 1,
            "end_customer_quota": {"used": 1, "limit": 10, "remaining": 9},
        }
        assert used(owner.customer) == 1
        assert TryOnEvent.objects.get().end_customer == owner.customer

    def test_bearer_secret_key_authenticates_without_body_key(self, owner: Persona, track: Track) -> None:
        response = track({}, secret=None, HTTP_AUTHORIZATION=f"Bearer {owner.secret}")
        assert response.status_code == 200
        assert balance(owner) == 99

    def test_bearer_with_the_same_body_key_is_accepted(self, owner: Persona, track: Track) -> None:
        response = track({"api_key": owner.secret}, secret=None, HTTP_AUTHORIZATION=f"Bearer {owner.secret}")
        assert response.status_code == 200

    def test_publishable_key_in_body_works_behind_the_internal_secret(self, owner: Persona, track: Track) -> None:
        assert track({"api_key": owner.publishable.plaintext}).status_code == 200

    def test_rotated_internal_secret_is_accepted(self, owner: Persona, track: Track) -> None:
        assert track({"api_key": owner.secret}, secret="test-internal-secret-next").status_code == 200

    def test_variation_count_never_changes_the_cost(self, owner: Persona, track: Track) -> None:
        track({"api_key": owner.secret, "variation_count": 16})
        assert balance(owner) == 99

    def test_unknown_keys_are_ignored(self, owner: Persona, track: Track) -> None:
        assert track({"api_key": owner.secret, "colour": "red"}).status_code == 200

    def test_empty_token_means_legacy_mode(self, owner: Persona, track: Track) -> None:
        response = track({"api_key": owner.secret, "end_customer_token": ""})
        assert "end_customer_quota" not in response.json()

    def test_request_id_is_echoed(self, owner: Persona, track: Track) -> None:
        response = track({"api_key": owner.secret}, HTTP_X_REQUEST_ID="trace-42")
        assert response["X-Request-Id"] == "trace-42"


class TestFailedTryOn:
    def test_success_false_records_a_failed_event_and_debits_nothing(self, owner: Persona, track: Track) -> None:
        response = track({"api_key": owner.secret, "success": False, "end_customer_token": owner.token()})
        assert response.status_code == 200
        assert response.json() == {
            "success": True,
            "remaining_credits": 100,
            "variation_count": 1,
            "end_customer_quota": {"used": 0, "limit": 10, "remaining": 10},
        }
        assert used(owner.customer) == 0
        event = TryOnEvent.objects.get()
        assert (event.outcome, event.debited, event.success) == ("failed", False, False)

    def test_success_false_still_applies_checks_one_to_six(self, owner: Persona, track: Track) -> None:
        store_suspend(store=owner.store, note="fraud", actor=SYSTEM)
        assert_error(track({"api_key": owner.secret, "success": False}), 403, "account_inactive")

    def test_success_false_skips_the_credit_check(self, owner: Persona, track: Track) -> None:
        Store.objects.filter(pk=owner.store.pk).update(credit_balance=0)
        assert track({"api_key": owner.secret, "success": False}).status_code == 200


class TestErrorMatrix:
    def test_bad_internal_secret(self, owner: Persona, track: Track) -> None:
        assert_error(track({"api_key": owner.secret}, secret="wrong"), 401, "unauthorized")
        assert_nothing_debited(owner)

    def test_no_credentials(self, owner: Persona, track: Track) -> None:
        assert_error(track({"api_key": owner.secret}, secret=None), 401, "unauthorized")

    def test_malformed_authorization_header(self, owner: Persona, track: Track) -> None:
        response = track({"api_key": owner.secret}, secret=None, HTTP_AUTHORIZATION=f"Token {owner.secret}")
        assert_error(response, 401, "unauthorized")

    def test_unknown_key(self, owner: Persona, track: Track) -> None:
        assert_error(track({"api_key": "gvk_live_" + "x" * 32}), 401, "invalid_key")

    def test_unknown_prefix(self, owner: Persona, track: Track) -> None:
        assert_error(track({"api_key": "sk_live_" + owner.secret[9:]}), 401, "invalid_key")

    def test_missing_key_behind_internal_secret(self, owner: Persona, track: Track) -> None:
        assert_error(track({}), 401, "invalid_key")

    def test_revoked_key(self, owner: Persona, track: Track) -> None:
        api_key_revoke(key=owner.key)
        assert_error(track({"api_key": owner.secret}), 401, "invalid_key")
        assert_nothing_debited(owner)

    def test_bearer_and_body_keys_differ(self, owner: Persona, outsider: Persona, track: Track) -> None:
        response = track({"api_key": outsider.secret}, secret=None, HTTP_AUTHORIZATION=f"Bearer {owner.secret}")
        assert_error(response, 401, "invalid_key")
        assert_nothing_debited(owner)
        assert_nothing_debited(outsider)

    def test_publishable_bearer_is_refused(self, owner: Persona, track: Track) -> None:
        response = track({}, secret=None, HTTP_AUTHORIZATION=f"Bearer {owner.publishable.plaintext}")
        assert_error(response, 403, "insufficient_scope")

    def test_suspended_store(self, owner: Persona, track: Track) -> None:
        store_suspend(store=owner.store, note="chargebacks", actor=SYSTEM)
        assert_error(track({"api_key": owner.secret}), 403, "account_inactive")
        assert_nothing_debited(owner)

    def test_domain_not_allowed(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        assert_error(track({"api_key": key.plaintext, "origin": "https://evil.com"}), 403, "domain_not_allowed")
        assert_nothing_debited(owner)

    def test_domain_allowed_through_origin_header(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["*.shop.com"])
        assert track({"api_key": key.plaintext}, HTTP_ORIGIN="https://www.shop.com:8443").status_code == 200

    def test_body_origin_wins_over_header(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        response = track({"api_key": key.plaintext, "origin": "https://evil.com"}, HTTP_ORIGIN="https://shop.com")
        assert_error(response, 403, "domain_not_allowed")

    def test_token_of_another_store(self, owner: Persona, outsider: Persona, track: Track) -> None:
        response = track({"api_key": owner.secret, "end_customer_token": outsider.token()})
        assert_error(response, 403, "token_store_mismatch")
        assert_nothing_debited(owner)
        assert used(outsider.customer) == 0

    def test_garbage_token(self, owner: Persona, track: Track) -> None:
        assert_error(track({"api_key": owner.secret, "end_customer_token": "not-a-jwt"}), 401, "invalid_session_token")
        assert_nothing_debited(owner)

    def test_credit_pool_empty(self, owner: Persona, track: Track) -> None:
        Store.objects.filter(pk=owner.store.pk).update(credit_balance=0)
        body = assert_error(track({"api_key": owner.secret}), 402, "credit_limit_reached")
        assert "reason" not in body
        event = TryOnEvent.objects.get()
        assert (event.outcome, event.debited) == ("credit_limit_reached", False)

    def test_quota_exhausted(self, owner: Persona, track: Track) -> None:
        UsagePeriod.objects.filter(customer=owner.customer).update(used=10)
        body = assert_error(
            track({"api_key": owner.secret, "end_customer_token": owner.token()}), 402, "end_customer_quota"
        )
        assert (body["reason"], body["limit"], body["used"]) == ("quota_exhausted", 10, 10)
        assert_nothing_debited(owner)
        event = TryOnEvent.objects.get()
        assert (event.outcome, event.reason, event.end_customer) == (
            "end_customer_quota",
            "quota_exhausted",
            owner.customer,
        )


class TestPrecedence:
    """The first failing check answers, whatever else is wrong."""

    def test_bad_secret_beats_bad_body(self, owner: Persona, track: Track) -> None:
        assert_error(track("[not json", secret="wrong"), 401, "unauthorized")

    def test_bad_body_beats_bad_key(self, owner: Persona, track: Track) -> None:
        assert_error(track({"api_key": "gvk_live_nope", "variation_count": 0}), 400, "invalid_body")

    def test_a_made_up_bearer_key_learns_nothing_of_its_body_and_is_counted(
        self, owner: Persona, track: Track, settings: Any
    ) -> None:
        """Found: 3,000 nested arrays with `Authorization: Bearer x` answered 500, unauthenticated
        and not counted as a failed authentication."""
        settings.AUTH_FAILURE_LIMIT = 2
        deep = "[" * 3000 + "]" * 3000
        for _ in range(2):
            assert_error(track(deep, secret=None, HTTP_AUTHORIZATION="Bearer x"), 401, "invalid_key")
        assert_error(track(deep, secret=None, HTTP_AUTHORIZATION="Bearer x"), 429, "rate_limited")

    def test_a_publishable_bearer_learns_nothing_of_its_body(self, owner: Persona, track: Track) -> None:
        bearer = f"Bearer {owner.publishable.plaintext}"
        assert_error(track("[1", secret=None, HTTP_AUTHORIZATION=bearer), 403, "insufficient_scope")

    def test_a_malformed_idempotency_key_does_not_hide_a_refusal(self, owner: Persona, track: Track) -> None:
        store_suspend(store=owner.store, note="test", actor=SYSTEM)
        response = track({"api_key": owner.secret}, HTTP_IDEMPOTENCY_KEY="k" * 256)
        assert_error(response, 403, "account_inactive")

    def test_deep_nesting_behind_a_valid_credential_is_invalid_body(self, owner: Persona, track: Track) -> None:
        deep = f'{{"api_key": "{owner.secret}", "x": {"[" * 3000 + "]" * 3000}}}'
        assert_error(track(deep), 400, "invalid_body")
        assert_nothing_debited(owner)

    def test_a_lone_surrogate_in_an_unknown_field_with_an_idempotency_key(self, owner: Persona, track: Track) -> None:
        """Found: answered 500 (the key's fingerprint could not encode the body). SPEC §4: text
        no database can hold is invalid_body, wherever it is in the body."""
        raw = f'{{"api_key": "{owner.secret}", "note": "\\ud800"}}'
        body = assert_error(track(raw, HTTP_IDEMPOTENCY_KEY="sur-1"), 400, "invalid_body")
        assert "note" in body["fieldErrors"]
        assert_nothing_debited(owner)

    def test_a_chunked_body_is_read(self, owner: Persona) -> None:
        """Found: a valid chunked body was a 400, and 100 KB chunked was a 400, not a 413."""
        from io import BytesIO

        from django.test import RequestFactory

        from tryon.api import TrackView

        def chunked(raw: bytes) -> Any:
            request = RequestFactory().post(
                "/api/tryon/track", data=b"", content_type="application/json", HTTP_X_INTERNAL_SECRET=INTERNAL_SECRET
            )
            request.META.pop("CONTENT_LENGTH", None)
            request.META.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": BytesIO(raw)})
            return TrackView.as_view()(request)

        assert chunked(json.dumps({"api_key": owner.secret}).encode()).status_code == 200
        big = json.dumps({"api_key": owner.secret, "pad": "x" * 100_000}).encode()
        assert chunked(big).status_code == 413
        assert balance(owner) == 99

    def test_suspended_beats_bad_token(self, owner: Persona, track: Track) -> None:
        store_suspend(store=owner.store, note="test", actor=SYSTEM)
        assert_error(track({"api_key": owner.secret, "end_customer_token": "junk"}), 403, "account_inactive")

    def test_domain_beats_bad_token(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        body = {"api_key": key.plaintext, "origin": "evil.com", "end_customer_token": "junk"}
        assert_error(track(body), 403, "domain_not_allowed")

    def test_bad_token_beats_empty_pool(self, owner: Persona, track: Track) -> None:
        Store.objects.filter(pk=owner.store.pk).update(credit_balance=0)
        assert_error(track({"api_key": owner.secret, "end_customer_token": "junk"}), 401, "invalid_session_token")

    def test_quota_beats_empty_pool(self, owner: Persona, track: Track) -> None:
        Store.objects.filter(pk=owner.store.pk).update(credit_balance=0)
        UsagePeriod.objects.filter(customer=owner.customer).update(used=10)
        body = assert_error(
            track({"api_key": owner.secret, "end_customer_token": owner.token()}), 402, "end_customer_quota"
        )
        assert body["reason"] == "quota_exhausted"

    def test_key_beats_suspension(self, owner: Persona, track: Track) -> None:
        store_suspend(store=owner.store, note="test", actor=SYSTEM)
        assert_error(track({"api_key": "gvk_live_" + "y" * 32}), 401, "invalid_key")


class TestBody:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("variation_count", 0),
            ("variation_count", 17),
            ("variation_count", "4"),
            ("variation_count", 2.5),
            ("variation_count", True),
            ("generation_time_ms", -1),
            ("generation_time_ms", "fast"),
            ("success", "yes"),
            ("success", 1),
            ("product_type", "car"),
            ("product_title", "x" * 301),
            ("page_url", 42),
            ("end_customer_token", 12),
            ("api_key", ["k"]),
        ],
    )
    def test_wrong_type_or_range_is_invalid_body(self, owner: Persona, track: Track, field: str, value: Any) -> None:
        body = assert_error(track({"api_key": owner.secret, field: value}), 400, "invalid_body")
        assert field in body["fieldErrors"]
        assert_nothing_debited(owner)

    @pytest.mark.parametrize("raw", ["", "null", "[]", '"text"', "42", "{", "{'a': 1}", "\xff\xfe"])
    def test_bodies_that_are_not_json_objects(self, owner: Persona, track: Track, raw: str) -> None:
        body = assert_error(track(raw), 400, "invalid_body")
        assert "body" in body["fieldErrors"]

    def test_payload_too_large(self, owner: Persona, track: Track) -> None:
        big = json.dumps({"api_key": owner.secret, "product_title": "x" * (64 * 1024)})
        assert_error(track(big), 413, "payload_too_large")
        assert_nothing_debited(owner)

    def test_body_just_under_the_limit_is_read(self, owner: Persona, track: Track) -> None:
        padding = 64 * 1024 - 200
        response = track({"api_key": owner.secret, "extra": "x" * padding})
        assert response.status_code == 200

    def test_wrong_method(self, client: Any) -> None:
        response = client.get("/api/tryon/track", headers={"x-internal-secret": INTERNAL_SECRET})
        assert_error(response, 405, "method_not_allowed")

    def test_unknown_api_path_is_json_404(self, client: Any) -> None:
        assert_error(client.get("/api/tryon/nope"), 404, "not_found")


class TestRefusalsNeverDisableAKey:
    """SPEC §3: what a stranger sends is counted for the merchant, never held against the key."""

    def test_a_thousand_refusals_leave_the_key_working(self, owner: Persona, outsider: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        foreign = outsider.token()
        for n in range(500):
            assert_error(track({"api_key": key.plaintext, "origin": f"evil{n % 3}.com"}), 403, "domain_not_allowed")
            body = {"api_key": key.plaintext, "origin": "shop.com", "end_customer_token": foreign}
            assert_error(track(body), 403, "token_store_mismatch")
        assert track({"api_key": key.plaintext, "origin": "https://shop.com"}).status_code == 200
        assert ApiKey.objects.get(pk=key.pk).is_usable

    def test_refusals_are_counted_per_cause_and_origin_host(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        for origin in ["https://evil.com", "https://evil.com:8443", "http://other.net", ""]:
            track({"api_key": key.plaintext, "origin": origin})
        track({"api_key": key.plaintext, "origin": "shop.com", "end_customer_token": "not-a-jwt"})
        counts = {(r.cause, r.origin_host): r.count for r in KeyRefusal.objects.filter(api_key=key)}
        assert counts == {
            ("domain_not_allowed", "evil.com"): 2,
            ("domain_not_allowed", "other.net"): 1,
            ("domain_not_allowed", ""): 1,
            ("invalid_session_token", "shop.com"): 1,
        }

    def test_the_refusal_does_not_reveal_the_allowlist(self, owner: Persona, track: Track) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["secret-staging.shop.com", "*.shop.com"])
        body = assert_error(track({"api_key": key.plaintext, "origin": "evil.com"}), 403, "domain_not_allowed")
        assert "shop.com" not in json.dumps(body)

    def test_a_forged_log_line_stays_one_line(
        self, owner: Persona, track: Track, caplog: pytest.LogCaptureFixture
    ) -> None:
        key = ApiKeyFactory(store=owner.store, allowed_domains=["shop.com"])
        caplog.set_level("INFO", logger="genvoris.tryon")
        track({"api_key": key.plaintext}, HTTP_ORIGIN="https://evil.com\nINFO forged line")
        assert all("\n" not in record.getMessage() for record in caplog.records)


class TestAuthFailureRateLimit:
    def test_too_many_failed_authentications_from_one_address(
        self, owner: Persona, track: Track, settings: Any
    ) -> None:
        settings.AUTH_FAILURE_LIMIT = 3
        for _ in range(3):
            assert_error(track({"api_key": owner.secret}, secret="wrong"), 401, "unauthorized")
        response = track({"api_key": owner.secret}, secret="wrong")
        assert_error(response, 429, "rate_limited")
        assert int(response["Retry-After"]) >= 1
        assert_error(track({"api_key": "gvk_live_made-up"}), 429, "rate_limited")
        assert_nothing_debited(owner)

    def test_a_limited_address_with_a_valid_credential_gets_through(
        self, owner: Persona, track: Track, settings: Any
    ) -> None:
        # A shared proxy address or a noisy neighbour must never block a real integration (SPEC §3).
        settings.AUTH_FAILURE_LIMIT = 2
        for _ in range(5):
            track({"api_key": owner.secret}, secret="wrong")
        assert track({"api_key": owner.secret}).status_code == 200
        assert balance(owner) == 99

    def test_successes_are_not_counted(self, owner: Persona, track: Track, settings: Any) -> None:
        settings.AUTH_FAILURE_LIMIT = 2
        for _ in range(4):
            assert track({"api_key": owner.secret}).status_code == 200


class TestCacheOutage:
    def test_track_still_works_when_the_rate_limit_cache_is_down(
        self, owner: Persona, track: Track, settings: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
        assert track({"api_key": owner.secret}).status_code == 200
        assert_error(track({"api_key": owner.secret}, secret="wrong"), 401, "unauthorized")
        assert balance(owner) == 99
        assert "rate-limit cache unreachable" in caplog.text
