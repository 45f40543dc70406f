"""Funnel events (SPEC §16): POST /api/v1/events and the backend's /api/tryon/events, and the
widget's visit id carried by track and by the reference backend."""

import json
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from conftest import Persona, Track
from stores.models import ApiKey, KeyRefusal
from stores.services import SYSTEM, api_key_revoke, store_suspend
from stores.tests.factories import ApiKeyFactory
from tryon import backend
from tryon.models import TryOnEvent, WidgetEvent
from tryon.tests.test_backend import DRESS, GENERATE, INTERNAL_TRACK_URL, Recorder, image_bytes

pytestmark = pytest.mark.django_db

V1_EVENTS = "/api/v1/events"
PROXY_EVENTS = "/api/tryon/events"
SHOP = "https://shop.example"
SID = "gv_4f3a9c2e-1b7d"


def event(**fields: Any) -> dict[str, Any]:
    return {"sessionId": SID, "eventType": "WIDGET_OPENED", **fields}


def post(
    body: Any,
    *,
    path: str = V1_EVENTS,
    content_type: str = "application/json",
    ip: str = "198.51.100.7",
    **headers: str,
) -> Any:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return Client().post(path, data=data, content_type=content_type, headers=headers, REMOTE_ADDR=ip)


def from_page(persona: Persona, body: Any, *, origin: str | None = SHOP, **kwargs: Any) -> Any:
    """As widget.js sends them: the publishable key in the body, text/plain (sendBeacon)."""
    headers = {"Origin": origin} if origin else {}
    return post({**body, "api_key": persona.publishable.plaintext}, content_type="text/plain", **headers, **kwargs)


def stored(persona: Persona) -> list[tuple[str, str]]:
    return list(WidgetEvent.objects.filter(store=persona.store).order_by("pk").values_list("session_id", "event_type"))


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["error"] == code, body
    return body


# --- accepted -----------------------------------------------------------------------------------


class TestAccepted:
    def test_one_event_with_a_secret_key(self, owner: Persona) -> None:
        response = post(event(productId="sku-1", metadata={"step": 1}), Authorization=f"Bearer {owner.secret}")
        assert response.status_code == 202, response.content
        assert response.json() == {"accepted": 1}
        (row,) = WidgetEvent.objects.filter(store=owner.store)
        assert (row.session_id, row.event_type, row.product_id, row.metadata) == (
            SID,
            "WIDGET_OPENED",
            "sku-1",
            {"step": 1},
        )

    def test_a_batch_in_order(self, owner: Persona) -> None:
        types = ["WIDGET_OPENED", "PHOTO_UPLOADED", "TRYON_GENERATED", "TRYON_VIEWED", "ADDED_TO_CART"]
        response = from_page(owner, {"events": [event(eventType=t) for t in types]})
        assert response.status_code == 202, response.content
        assert response.json() == {"accepted": 5}
        assert stored(owner) == [(SID, t) for t in types]

    @pytest.mark.parametrize("content_type", ["application/json", "text/plain", "text/plain;charset=UTF-8"])
    def test_json_and_plain_text_bodies(self, owner: Persona, content_type: str) -> None:
        body = {"events": [event()], "api_key": owner.publishable.plaintext}
        assert post(body, content_type=content_type, Origin=SHOP).status_code == 202
        assert len(stored(owner)) == 1

    def test_the_key_may_come_in_x_api_key(self, owner: Persona) -> None:
        response = post(event(), Origin=SHOP, **{"X-API-Key": owner.publishable.plaintext})
        assert response.status_code == 202

    def test_fifty_is_the_largest_batch(self, owner: Persona) -> None:
        assert from_page(owner, {"events": [event()] * 50}).json() == {"accepted": 50}

    def test_the_backend_proxy_stores_through_the_same_service(self, owner: Persona) -> None:
        response = from_page(owner, {"events": [event(eventType="ADDED_TO_CART")]}, path=PROXY_EVENTS)
        assert response.status_code == 202
        assert stored(owner) == [(SID, "ADDED_TO_CART")]

    def test_every_field_at_its_bound(self, owner: Persona) -> None:
        bounded = event(
            sessionId="a" * 64,
            productId="p" * 200,
            productTitle="t" * 300,
            pageUrl="u" * 2048,
            metadata={f"{i:040d}": "v" * 40 for i in range(20)},  # 20 keys of 40: 1,801 bytes
        )
        assert from_page(owner, bounded).status_code == 202


# --- refused ------------------------------------------------------------------------------------


class TestValidation:
    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"sessionId": ""}, "sessionId"),
            ({"sessionId": "a" * 65}, "sessionId"),
            ({"sessionId": "has space"}, "sessionId"),
            ({"sessionId": "trailing\n"}, "sessionId"),
            ({"sessionId": 42}, "sessionId"),
            ({"eventType": "PURCHASED"}, "eventType"),
            ({"eventType": None}, "eventType"),
            ({"productId": "p" * 201}, "productId"),
            ({"productTitle": "t" * 301}, "productTitle"),
            ({"pageUrl": "u" * 2049}, "pageUrl"),
            ({"metadata": [1]}, "metadata"),
            ({"metadata": {f"k{i}": i for i in range(21)}}, "metadata"),
            ({"metadata": {"k" * 41: 1}}, "metadata"),
            ({"metadata": {"nested": {"a": 1}}}, "metadata"),
            ({"metadata": {"big": "x" * 2100}}, "metadata"),
        ],
    )
    def test_a_bad_field_is_400_naming_it(self, owner: Persona, fields: dict[str, Any], field: str) -> None:
        body = assert_error(from_page(owner, event(**fields)), 400, "invalid_body")
        assert field in body["fieldErrors"]
        assert stored(owner) == []

    def test_missing_required_fields(self, owner: Persona) -> None:
        body = assert_error(from_page(owner, {"productId": "x"}), 400, "invalid_body")
        assert {"sessionId", "eventType"} <= set(body["fieldErrors"])

    def test_a_bad_event_fails_the_whole_batch_naming_its_index(self, owner: Persona) -> None:
        batch = [event(), event(), event(), event(eventType="BOGUS"), event(), "not an event"]
        body = assert_error(from_page(owner, {"events": batch}), 400, "invalid_body")
        assert set(body["fieldErrors"]) == {"events[3].eventType", "events[5]"}
        assert stored(owner) == []

    @pytest.mark.parametrize("events", [[], [{}] * 51, "x", {"a": 1}, None])
    def test_the_batch_is_1_to_50_events(self, owner: Persona, events: Any) -> None:
        body = assert_error(from_page(owner, {"events": events}), 400, "invalid_body")
        assert "events" in body["fieldErrors"]

    def test_fifty_one_valid_events_store_nothing(self, owner: Persona) -> None:
        assert_error(from_page(owner, {"events": [event()] * 51}), 400, "invalid_body")
        assert stored(owner) == []

    @pytest.mark.parametrize("raw", ["{", "[1, 2]", '"text"', '{"a": "\\u0000"}'])
    def test_a_body_that_is_not_a_json_object(self, owner: Persona, raw: str) -> None:
        response = post(raw, Authorization=f"Bearer {owner.secret}")
        assert_error(response, 400, "invalid_body")

    def test_other_media_types_are_415(self, owner: Persona) -> None:
        response = post("sessionId=x", content_type="application/x-www-form-urlencoded", Origin=SHOP)
        assert_error(response, 415, "unsupported_media_type")

    def test_a_body_past_256_kb_is_413(self, owner: Persona) -> None:
        response = post({"events": [event(pageUrl="u" * 2048)] * 200}, Authorization=f"Bearer {owner.secret}")
        assert_error(response, 413, "payload_too_large")


class TestAuth:
    def test_no_credential_is_401(self, owner: Persona) -> None:
        assert_error(post(event(), Origin=SHOP), 401, "unauthorized")

    def test_an_unknown_key_is_401(self, owner: Persona) -> None:
        response = post({**event(), "api_key": "gvk_pub_nope"}, Origin=SHOP)
        assert_error(response, 401, "invalid_key")

    def test_a_publishable_key_without_an_origin_is_403(self, owner: Persona) -> None:
        assert_error(from_page(owner, event(), origin=None), 403, "domain_not_allowed")
        assert stored(owner) == []

    def test_a_publishable_key_from_an_origin_off_its_allowlist(self, owner: Persona) -> None:
        ApiKey.objects.filter(pk=owner.publishable.pk).update(allowed_domains=["shop.example"])
        body = assert_error(from_page(owner, event(), origin="https://evil.example"), 403, "domain_not_allowed")
        assert "shop.example" not in json.dumps(body)  # the allowlist is never told
        assert KeyRefusal.objects.filter(api_key=owner.publishable, origin_host="evil.example").exists()
        assert from_page(owner, event(), origin="https://shop.example").status_code == 202
        assert len(stored(owner)) == 1

    def test_a_publishable_key_as_bearer_is_403(self, owner: Persona) -> None:
        response = post(event(), Authorization=f"Bearer {owner.publishable.plaintext}")
        assert_error(response, 403, "insufficient_scope")

    def test_a_secret_key_in_the_body_is_refused(self, owner: Persona) -> None:
        response = post({**event(), "api_key": owner.secret}, Origin=SHOP)
        assert_error(response, 403, "insufficient_scope")
        assert stored(owner) == []

    def test_events_go_to_the_keys_store_only(self, owner: Persona, outsider: Persona) -> None:
        assert from_page(outsider, event()).status_code == 202
        assert post(event(), Authorization=f"Bearer {outsider.secret}").status_code == 202
        assert stored(owner) == []
        assert len(stored(outsider)) == 2

    def test_a_revoked_key_is_401(self, owner: Persona) -> None:
        api_key_revoke(key=owner.publishable)
        api_key_revoke(key=owner.key)
        assert_error(from_page(owner, event()), 401, "invalid_key")
        assert_error(post(event(), Authorization=f"Bearer {owner.secret}"), 401, "invalid_key")
        assert stored(owner) == []

    def test_a_suspended_store_is_403(self, owner: Persona) -> None:
        store_suspend(store=owner.store, note="test", actor=SYSTEM)
        assert_error(from_page(owner, event()), 403, "account_inactive")
        assert_error(post(event(), Authorization=f"Bearer {owner.secret}"), 403, "account_inactive")
        assert stored(owner) == []


class TestLimits:
    def test_requests_are_limited_per_address_and_key(self, owner: Persona, settings: Any) -> None:
        settings.EVENTS_PER_MINUTE = 2
        for _ in range(2):
            assert from_page(owner, event()).status_code == 202
        assert_error(from_page(owner, event()), 429, "rate_limited")
        # Another address with the same key, and the same address with another key, still pass.
        assert from_page(owner, event(), ip="198.51.100.8").status_code == 202
        other = ApiKeyFactory(store=owner.store, kind=ApiKey.Kind.PUBLISHABLE)
        body = {**event(), "api_key": other.plaintext}  # type: ignore[attr-defined]
        assert post(body, content_type="text/plain", Origin=SHOP).status_code == 202
        assert len(stored(owner)) == 4

    def test_the_limited_answer_says_when_to_retry(self, owner: Persona, settings: Any) -> None:
        settings.EVENTS_PER_MINUTE = 1
        from_page(owner, event())
        response = from_page(owner, event())
        assert response.status_code == 429
        assert 1 <= int(response["Retry-After"]) <= 60


class TestCors:
    @pytest.mark.parametrize("path", [V1_EVENTS, PROXY_EVENTS])
    def test_the_preflight_is_answered(self, path: str) -> None:
        response = Client().options(
            path,
            headers={
                "Origin": SHOP,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-api-key",
            },
        )
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == SHOP
        assert "POST" in response["Access-Control-Allow-Methods"]
        assert "X-API-Key" in response["Access-Control-Allow-Headers"]

    def test_the_answer_reflects_the_origin(self, owner: Persona) -> None:
        response = from_page(owner, event())
        assert response["Access-Control-Allow-Origin"] == SHOP
        assert "Origin" in response["Vary"]
        assert "Access-Control-Allow-Credentials" not in response


# --- the visit id on try-ons ----------------------------------------------------------------------


class TestTrackStoresTheVisit:
    def test_track_stores_widget_session_id(self, owner: Persona, track: Track) -> None:
        assert track({"api_key": owner.secret, "widget_session_id": SID}).status_code == 200
        assert TryOnEvent.objects.get(store=owner.store).widget_session_id == SID

    def test_without_one_it_is_empty(self, owner: Persona, track: Track) -> None:
        assert track({"api_key": owner.secret, "widget_session_id": None}).status_code == 200
        assert TryOnEvent.objects.get(store=owner.store).widget_session_id == ""

    @pytest.mark.parametrize("value", ["", "a" * 65, "no spaces", "ok\n", 7, ["x"]])
    def test_a_malformed_one_is_400_and_debits_nothing(self, owner: Persona, track: Track, value: Any) -> None:
        body = assert_error(track({"api_key": owner.secret, "widget_session_id": value}), 400, "invalid_body")
        assert "widget_session_id" in body["fieldErrors"]
        assert not TryOnEvent.objects.filter(store=owner.store).exists()


def widget_post(client: Client, persona: Persona, **fields: str) -> Any:
    data: dict[str, Any] = {
        "api_key": persona.publishable.plaintext,
        "product_image": DRESS,
        "product_title": "Black Wrap Dress",
        "photo": SimpleUploadedFile("me.jpg", image_bytes(), content_type="image/jpeg"),
        **fields,
    }
    return client.post(GENERATE, data=data, HTTP_ORIGIN=SHOP, REMOTE_ADDR="203.0.113.9")


class TestBackendForwardsTheVisit:
    def test_in_process(self, client: Client, owner: Persona, settings: Any) -> None:
        settings.TRYON_TRACK_URL = ""
        assert widget_post(client, owner, widget_session_id=SID).status_code == 200
        assert TryOnEvent.objects.get(store=owner.store).widget_session_id == SID

    def test_over_http(self, client: Client, owner: Persona, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        settings.TRYON_TRACK_URL = INTERNAL_TRACK_URL
        recorder = Recorder()
        monkeypatch.setattr(backend, "track_client", lambda: httpx.Client(transport=recorder, timeout=5))
        assert widget_post(client, owner, widget_session_id=SID).status_code == 200
        assert recorder.bodies()[0]["widget_session_id"] == SID
        assert TryOnEvent.objects.get(store=owner.store).widget_session_id == SID

    def test_none_sent_none_forwarded(
        self, client: Client, owner: Persona, settings: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings.TRYON_TRACK_URL = INTERNAL_TRACK_URL
        recorder = Recorder()
        monkeypatch.setattr(backend, "track_client", lambda: httpx.Client(transport=recorder, timeout=5))
        assert widget_post(client, owner).status_code == 200
        assert "widget_session_id" not in recorder.bodies()[0]

    def test_a_malformed_one_is_refused_before_any_work(self, client: Client, owner: Persona, settings: Any) -> None:
        settings.TRYON_TRACK_URL = ""
        body = assert_error(widget_post(client, owner, widget_session_id="bad id!"), 400, "invalid_body")
        assert "widget_session_id" in body["fieldErrors"]
        assert not TryOnEvent.objects.filter(store=owner.store).exists()
