"""Orders and refunds (SPEC §16): POST /api/v1/conversions and /api/v1/returns, deduplication
(also under concurrent duplicates on PostgreSQL), and attribution hard, soft or none."""

import hashlib
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client

from conftest import V1, Persona
from quotas.tests.factories import EndCustomerFactory
from stores.services import SYSTEM, api_key_revoke, store_suspend
from tryon.models import Conversion, OrderReturn, TryOnEvent
from tryon.services.funnel import Order, conversion_record
from tryon.tests.factories import TryOnEventFactory

pytestmark = pytest.mark.django_db

SID = "gv_visit-0001"
EMAIL = "Shopper@Example.com"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def order(**fields: Any) -> dict[str, Any]:
    return {"orderId": "1001", "platform": "shopify", "amountCents": 12_900, **fields}


def tryon(persona: Persona, *, at: datetime = T0, **fields: Any) -> TryOnEvent:
    return TryOnEventFactory(api_key=persona.key, created_at=at, **fields)  # type: ignore[no-any-return]


def convert(api: V1, *, at: datetime, **fields: Any) -> Any:
    with time_machine.travel(at, tick=False):
        return api.post("/conversions", order(**fields))


def attribution(persona: Persona, order_id: str = "1001") -> tuple[str, int | None]:
    row = Conversion.objects.get(store=persona.store, order_id=order_id)
    return row.attribution, row.tryon_event_id


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["error"] == code, body
    return body


# --- conversions ---------------------------------------------------------------------------------


class TestConversion:
    def test_a_first_report_is_201_and_stored(self, api: V1, owner: Persona) -> None:
        response = api.post(
            "/conversions",
            order(currency="EUR", quantity=2, productId="sku-9", productTitle="Wrap dress", customerEmail=EMAIL),
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body == {"id": body["id"], "attributedFromTryOn": False, "deduped": False}
        row = Conversion.objects.get(store=owner.store)
        assert body["id"] == row.public_id
        assert row.public_id.startswith("cnv_")
        assert (row.platform, row.order_id, row.amount_cents, row.currency, row.quantity) == (
            "shopify",
            "1001",
            12_900,
            "EUR",
            2,
        )
        assert (row.attribution, row.attribution_window_minutes) == ("none", 1440)

    def test_the_email_is_stored_only_hashed(self, api: V1, owner: Persona) -> None:
        api.post("/conversions", order(customerEmail=f"  {EMAIL} "))
        row = Conversion.objects.values().get(store=owner.store)
        assert row["email_hash"] == hashlib.sha256(b"shopper@example.com").hexdigest()
        assert not any("example.com" in str(value).lower() for value in row.values())

    def test_currency_defaults_to_usd(self, api: V1, owner: Persona) -> None:
        api.post("/conversions", order())
        assert Conversion.objects.get(store=owner.store).currency == "USD"

    def test_a_repeat_is_200_deduped_and_never_a_second_row(self, api: V1, owner: Persona) -> None:
        first = api.post("/conversions", order()).json()
        repeat = api.post("/conversions", order(amountCents=1))
        assert repeat.status_code == 200
        assert repeat.json() == {"id": first["id"], "attributedFromTryOn": False, "deduped": True}
        assert Conversion.objects.get(store=owner.store).amount_cents == 12_900  # the first report stands

    def test_dedupe_is_per_store_and_platform(self, api: V1, outsider_api: V1, owner: Persona) -> None:
        assert api.post("/conversions", order()).status_code == 201
        assert api.post("/conversions", order(platform="woocommerce")).status_code == 201
        assert outsider_api.post("/conversions", order()).status_code == 201
        assert Conversion.objects.filter(store=owner.store).count() == 2

    def test_the_amount_at_its_bounds(self, api: V1) -> None:
        assert api.post("/conversions", order(orderId="a", amountCents=0)).status_code == 201
        assert api.post("/conversions", order(orderId="b", amountCents=100_000_000_000)).status_code == 201

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"orderId": ""}, "orderId"),
            ({"orderId": "   "}, "orderId"),
            ({"orderId": "x" * 201}, "orderId"),
            ({"orderId": 1001}, "orderId"),
            ({"platform": "magento"}, "platform"),
            ({"amountCents": -1}, "amountCents"),
            ({"amountCents": 100_000_000_001}, "amountCents"),
            ({"amountCents": "12900"}, "amountCents"),
            ({"amountCents": 12.5}, "amountCents"),
            ({"amountCents": True}, "amountCents"),
            ({"currency": "usd"}, "currency"),
            ({"currency": "US"}, "currency"),
            ({"currency": "USDX"}, "currency"),
            ({"currency": "U$D"}, "currency"),
            ({"quantity": 0}, "quantity"),
            ({"quantity": 1_000_001}, "quantity"),
            ({"sessionId": "bad id"}, "sessionId"),
            ({"sessionId": "a" * 65}, "sessionId"),
            ({"customerEmail": "x" * 255}, "customerEmail"),
            ({"attributionWindowMinutes": 0}, "attributionWindowMinutes"),
            ({"attributionWindowMinutes": 43_201}, "attributionWindowMinutes"),
            ({"productTitle": "t" * 301}, "productTitle"),
        ],
    )
    def test_a_bad_field_is_400(self, api: V1, owner: Persona, fields: dict[str, Any], field: str) -> None:
        body = assert_error(api.post("/conversions", order(**fields)), 400, "invalid_body")
        assert field in body["fieldErrors"]
        assert not Conversion.objects.filter(store=owner.store).exists()

    def test_required_fields(self, api: V1) -> None:
        body = assert_error(api.post("/conversions", {}), 400, "invalid_body")
        assert {"orderId", "platform", "amountCents"} <= set(body["fieldErrors"])


class TestConversionAuth:
    def test_a_publishable_key_is_403(self, owner: Persona) -> None:
        assert_error(V1(Client(), owner.publishable.plaintext).post("/conversions", order()), 403, "insufficient_scope")
        assert_error(V1(Client(), owner.publishable.plaintext).post("/returns", refund()), 403, "insufficient_scope")

    def test_no_key_is_401(self, owner: Persona) -> None:
        assert_error(
            Client().post("/api/v1/conversions", order(), content_type="application/json"), 401, "unauthorized"
        )

    def test_a_revoked_key_is_401(self, api: V1, owner: Persona) -> None:
        api_key_revoke(key=owner.key)
        assert_error(api.post("/conversions", order()), 401, "invalid_key")
        assert_error(api.post("/returns", refund()), 401, "invalid_key")

    def test_a_suspended_store_is_403(self, api: V1, owner: Persona) -> None:
        store_suspend(store=owner.store, note="test", actor=SYSTEM)
        assert_error(api.post("/conversions", order()), 403, "account_inactive")
        assert not Conversion.objects.exists()


# --- attribution ---------------------------------------------------------------------------------


class TestHardAttribution:
    def test_the_visit_had_a_debited_try_on_before_the_order(self, api: V1, owner: Persona) -> None:
        event = tryon(owner, widget_session_id=SID)
        response = convert(api, at=T0 + timedelta(days=5), sessionId=SID)
        assert response.json()["attributedFromTryOn"] is True
        assert attribution(owner) == ("hard", event.pk)

    def test_the_latest_try_on_of_the_visit_is_credited(self, api: V1, owner: Persona) -> None:
        tryon(owner, widget_session_id=SID)
        later = tryon(owner, at=T0 + timedelta(minutes=5), widget_session_id=SID)
        convert(api, at=T0 + timedelta(minutes=10), sessionId=SID)
        assert attribution(owner) == ("hard", later.pk)

    def test_at_the_same_instant_counts(self, api: V1, owner: Persona) -> None:
        tryon(owner, widget_session_id=SID)
        convert(api, at=T0, sessionId=SID)
        assert attribution(owner)[0] == "hard"

    def test_a_try_on_after_the_order_does_not(self, api: V1, owner: Persona) -> None:
        tryon(owner, at=T0 + timedelta(seconds=1), widget_session_id=SID)
        convert(api, at=T0, sessionId=SID)
        assert attribution(owner) == ("none", None)

    @pytest.mark.parametrize("outcome", [TryOnEvent.Outcome.FAILED, TryOnEvent.Outcome.CREDIT_LIMIT_REACHED])
    def test_a_try_on_that_was_not_debited_does_not(self, api: V1, owner: Persona, outcome: str) -> None:
        tryon(owner, widget_session_id=SID, outcome=outcome)
        convert(api, at=T0 + timedelta(minutes=1), sessionId=SID)
        assert attribution(owner) == ("none", None)

    def test_another_stores_visit_does_not(self, api: V1, owner: Persona, outsider: Persona) -> None:
        tryon(outsider, widget_session_id=SID)
        convert(api, at=T0 + timedelta(minutes=1), sessionId=SID)
        assert attribution(owner) == ("none", None)

    def test_another_visit_does_not(self, api: V1, owner: Persona) -> None:
        tryon(owner, widget_session_id="gv_other")
        convert(api, at=T0 + timedelta(minutes=1), sessionId=SID)
        assert attribution(owner) == ("none", None)

    def test_hard_wins_over_soft(self, api: V1, owner: Persona) -> None:
        owner.customer.email = EMAIL
        owner.customer.save(update_fields=["email"])
        tryon(owner, end_customer=owner.customer, at=T0 + timedelta(minutes=2))
        visit = tryon(owner, widget_session_id=SID)
        convert(api, at=T0 + timedelta(minutes=3), sessionId=SID, customerEmail=EMAIL)
        assert attribution(owner) == ("hard", visit.pk)


class TestSoftAttribution:
    @pytest.fixture(autouse=True)
    def shopper_email(self, owner: Persona) -> None:
        owner.customer.email = EMAIL
        owner.customer.save(update_fields=["email"])

    def test_the_buyer_is_a_shopper_with_a_try_on_in_the_window(self, api: V1, owner: Persona) -> None:
        event = tryon(owner, end_customer=owner.customer)
        response = convert(api, at=T0 + timedelta(hours=3), customerEmail=" shopper@EXAMPLE.com ")
        assert response.json()["attributedFromTryOn"] is True
        assert attribution(owner) == ("soft", event.pk)

    def test_a_visit_without_a_try_on_falls_back_to_the_email(self, api: V1, owner: Persona) -> None:
        event = tryon(owner, end_customer=owner.customer)
        convert(api, at=T0 + timedelta(minutes=1), sessionId="gv_no-tryon", customerEmail=EMAIL)
        assert attribution(owner) == ("soft", event.pk)

    @pytest.mark.parametrize(
        ("window", "after", "expected"),
        [
            (60, timedelta(minutes=60), "soft"),  # the window's edge is inside
            (60, timedelta(minutes=60, seconds=1), "none"),
            (None, timedelta(minutes=1440), "soft"),  # the default window: a day
            (None, timedelta(minutes=1440, seconds=1), "none"),
            (43_200, timedelta(days=30), "soft"),  # the largest window
            (43_200, timedelta(days=30, seconds=1), "none"),
        ],
    )
    def test_window_edges(self, api: V1, owner: Persona, window: int | None, after: timedelta, expected: str) -> None:
        tryon(owner, end_customer=owner.customer)
        fields: dict[str, Any] = {"customerEmail": EMAIL}
        if window is not None:
            fields["attributionWindowMinutes"] = window
        convert(api, at=T0 + after, **fields)
        assert attribution(owner)[0] == expected

    def test_a_try_on_after_the_order_does_not(self, api: V1, owner: Persona) -> None:
        tryon(owner, end_customer=owner.customer, at=T0 + timedelta(minutes=1))
        convert(api, at=T0, customerEmail=EMAIL)
        assert attribution(owner) == ("none", None)

    def test_a_shopper_of_another_store_does_not(self, api: V1, owner: Persona, outsider: Persona) -> None:
        owner.customer.email = "someone-else@example.com"
        owner.customer.save(update_fields=["email"])
        stranger = EndCustomerFactory(store=outsider.store, email=EMAIL)
        tryon(outsider, end_customer=stranger)
        convert(api, at=T0 + timedelta(minutes=1), customerEmail=EMAIL)
        assert attribution(owner) == ("none", None)

    def test_another_email_does_not(self, api: V1, owner: Persona) -> None:
        tryon(owner, end_customer=owner.customer)
        convert(api, at=T0 + timedelta(minutes=1), customerEmail="other@example.com")
        assert attribution(owner) == ("none", None)

    def test_a_blocked_try_on_does_not(self, api: V1, owner: Persona) -> None:
        tryon(owner, end_customer=owner.customer, outcome=TryOnEvent.Outcome.END_CUSTOMER_QUOTA)
        convert(api, at=T0 + timedelta(minutes=1), customerEmail=EMAIL)
        assert attribution(owner) == ("none", None)

    def test_a_repeat_keeps_the_first_attribution(self, api: V1, owner: Persona) -> None:
        convert(api, at=T0 + timedelta(minutes=1), customerEmail=EMAIL)  # no try-on yet: none
        tryon(owner, end_customer=owner.customer, at=T0 + timedelta(minutes=2))
        repeat = convert(api, at=T0 + timedelta(minutes=3), customerEmail=EMAIL)
        assert repeat.json()["deduped"] is True
        assert repeat.json()["attributedFromTryOn"] is False
        assert attribution(owner) == ("none", None)


# --- dedupe under concurrent duplicates ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
def test_twenty_concurrent_duplicates_make_one_row() -> None:
    from conftest import make_persona

    racer = make_persona("racer")
    tryon(racer, widget_session_id=SID, at=datetime.now(UTC) - timedelta(minutes=5))
    barrier = threading.Barrier(20)
    results: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            response = V1(Client(), racer.secret).post("/conversions", order(sessionId=SID))
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 20
    assert Counter(status for status, _ in results) == {201: 1, 200: 19}
    row = Conversion.objects.get(store=racer.store)
    assert {body["id"] for _, body in results} == {row.public_id}
    assert all(body["attributedFromTryOn"] for _, body in results)
    assert [body["deduped"] for status, body in results if status == 201] == [False]


def test_the_service_dedupes_when_the_insert_loses_the_race(owner: Persona, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path a concurrent duplicate takes: no row when it looked, the winner's row once its own
    insert fails on the unique constraint."""
    first = conversion_record(store=owner.store, order=Order(platform="custom", order_id="7", amount_cents=5), now=T0)
    from tryon.services import funnel

    looks = iter([None, first.conversion])
    monkeypatch.setattr(funnel, "_conversion_of", lambda *args: next(looks))
    again = conversion_record(store=owner.store, order=Order(platform="custom", order_id="7", amount_cents=9), now=T0)
    assert (again.conversion.pk, again.deduped) == (first.conversion.pk, True)
    assert Conversion.objects.filter(store=owner.store).count() == 1


# --- returns -------------------------------------------------------------------------------------


def refund(**fields: Any) -> dict[str, Any]:
    return {"orderId": "1001", "platform": "shopify", "refundedAmountCents": 4_500, **fields}


class TestReturns:
    def test_linked_to_the_orders_conversion(self, api: V1, owner: Persona) -> None:
        conversion = api.post("/conversions", order()).json()
        response = api.post("/returns", refund(reason="Too small", currency="EUR"))
        assert response.status_code == 201, response.content
        body = response.json()
        row = OrderReturn.objects.get(store=owner.store)
        assert body == {"id": row.public_id, "conversionEventId": conversion["id"]}
        assert row.public_id.startswith("ret_")
        assert (row.refunded_amount_cents, row.currency, row.reason) == (4_500, "EUR", "Too small")
        assert row.conversion is not None
        assert row.conversion.public_id == conversion["id"]

    def test_an_unknown_order_is_recorded_unlinked(self, api: V1, owner: Persona) -> None:
        response = api.post("/returns", refund())
        assert response.status_code == 201
        assert response.json()["conversionEventId"] is None
        assert OrderReturn.objects.get(store=owner.store).conversion is None

    def test_only_the_same_platform_and_store_link(self, api: V1, outsider_api: V1, owner: Persona) -> None:
        outsider_api.post("/conversions", order())
        api.post("/conversions", order(platform="woocommerce"))
        assert api.post("/returns", refund()).json()["conversionEventId"] is None

    def test_each_refund_of_an_order_is_recorded(self, api: V1, owner: Persona) -> None:
        api.post("/conversions", order())
        first = api.post("/returns", refund(refundedAmountCents=1_000)).json()
        second = api.post("/returns", refund(refundedAmountCents=2_000)).json()
        assert first["id"] != second["id"]
        assert first["conversionEventId"] == second["conversionEventId"]
        assert sorted(OrderReturn.objects.values_list("refunded_amount_cents", flat=True)) == [1_000, 2_000]

    def test_an_idempotency_key_replays_the_first_answer(self, api: V1, owner: Persona) -> None:
        headers = {**api.headers, "Idempotency-Key": "refund-77"}
        send = lambda body: api.client.post(  # noqa: E731
            "/api/v1/returns", data=body, content_type="application/json", headers=headers
        )
        first = send(refund())
        again = send(refund())
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert OrderReturn.objects.filter(store=owner.store).count() == 1
        reused = assert_error(send(refund(refundedAmountCents=1)), 422, "idempotency_key_reused")
        assert reused["message"]
        assert OrderReturn.objects.filter(store=owner.store).count() == 1

    def test_idempotency_keys_are_per_store(self, api: V1, outsider_api: V1, outsider: Persona) -> None:
        for v1 in (api, outsider_api):
            v1.client.post(
                "/api/v1/returns",
                data=refund(),
                content_type="application/json",
                headers={**v1.headers, "Idempotency-Key": "same"},
            )
        assert OrderReturn.objects.filter(store=outsider.store).count() == 1
        assert OrderReturn.objects.count() == 2

    def test_a_malformed_idempotency_key_is_400(self, api: V1, owner: Persona) -> None:
        response = api.client.post(
            "/api/v1/returns",
            data=refund(),
            content_type="application/json",
            headers={**api.headers, "Idempotency-Key": "k" * 256},
        )
        assert "Idempotency-Key" in assert_error(response, 400, "invalid_body")["fieldErrors"]
        assert not OrderReturn.objects.exists()

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"orderId": ""}, "orderId"),
            ({"platform": "ebay"}, "platform"),
            ({"refundedAmountCents": -1}, "refundedAmountCents"),
            ({"refundedAmountCents": 100_000_000_001}, "refundedAmountCents"),
            ({"refundedAmountCents": "5"}, "refundedAmountCents"),
            ({"currency": "eur"}, "currency"),
            ({"reason": "r" * 501}, "reason"),
        ],
    )
    def test_a_bad_field_is_400(self, api: V1, fields: dict[str, Any], field: str) -> None:
        body = assert_error(api.post("/returns", refund(**fields)), 400, "invalid_body")
        assert field in body["fieldErrors"]
        assert not OrderReturn.objects.exists()
