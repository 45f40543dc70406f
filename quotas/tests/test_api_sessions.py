"""/api/v1 sessions, authentication, tenant isolation, rate limits and the layer-2 flow over HTTP."""

from datetime import timedelta

import jwt
import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from conftest import V1, Persona, Track
from quotas.models import EndCustomer, Plan, ShopperSession
from quotas.tests.test_api_plans import assert_error
from stores.models import Store
from stores.services import SYSTEM, api_key_revoke, store_suspend

pytestmark = pytest.mark.django_db


class TestSessions:
    def test_mint_with_an_empty_body_and_no_content_type(self, api: V1, owner: Persona) -> None:
        path = f"/api/v1/customers/{owner.customer.public_id}/sessions"
        response = api.client.generic("POST", path, data=b"", content_type="", headers=api.headers)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"token", "token_type", "expires_in", "expires_at", "customer"}
        assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
        assert body["customer"] | {"period_start": "", "period_end": ""} == {
            "id": owner.customer.public_id,
            "external_id": owner.customer.external_id,
            "plan_id": owner.plan.public_id,
            "plan_name": owner.plan.name,
            "monthly_try_ons": 10,
            "period_start": "",
            "period_end": "",
        }
        claims = jwt.decode(body["token"], options={"verify_signature": False})
        assert (claims["sub"], claims["sid"], claims["exp"]) == (
            owner.customer.public_id,
            owner.store.public_id,
            body["expires_at"],
        )

    @pytest.mark.parametrize(("asked", "granted"), [(5, 60), (600, 600), (99999, 3600)])
    def test_expires_in_is_clamped(self, api: V1, owner: Persona, asked: int, granted: int) -> None:
        body = api.post(f"/customers/{owner.customer.external_id}/sessions", {"expires_in": asked}).json()
        assert body["expires_in"] == granted

    @pytest.mark.parametrize("value", ["900", 9.5, None, True])
    def test_expires_in_must_be_an_integer(self, api: V1, owner: Persona, value: object) -> None:
        response = api.post(f"/customers/{owner.customer.public_id}/sessions", {"expires_in": value})
        assert "expires_in" in assert_error(response, 400, "invalid_body")["fieldErrors"]

    @pytest.mark.parametrize("status", ["PAUSED", "CANCELLED"])
    def test_inactive_customer_gets_no_session(self, api: V1, owner: Persona, status: str) -> None:
        EndCustomer.objects.filter(pk=owner.customer.pk).update(status=status)
        assert_error(api.post(f"/customers/{owner.customer.public_id}/sessions"), 403, "customer_inactive")

    def test_revoke_is_idempotent(self, api: V1, owner: Persona) -> None:
        token = api.post(f"/customers/{owner.customer.public_id}/sessions").json()["token"]
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        for _ in range(2):
            response = api.delete(f"/customers/{owner.customer.public_id}/sessions/{jti}")
            assert response.status_code == 200
            assert response.json() == {"jti": jti, "revoked": True, "data": {"jti": jti, "revoked": True}}
        assert ShopperSession.objects.filter(jti=jti, revoked_at__isnull=False).count() == 1

    def test_revoking_another_customers_jti_is_404(self, api: V1, owner: Persona) -> None:
        other = api.post("/customers", {"externalId": "other", "planId": owner.plan.public_id}).json()
        jti = jwt.decode(owner.token(), options={"verify_signature": False})["jti"]
        assert_error(api.delete(f"/customers/{other['id']}/sessions/{jti}"), 404, "not_found")
        assert not ShopperSession.objects.filter(revoked_at__isnull=False).exists()


def _jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


class TestSessionList:
    """GET /api/v1/customers/{id}/sessions (SPEC §14): recorded sessions, never tokens."""

    def mint_at(self, api: V1, customer: str, when: object, **body: int) -> dict:
        with time_machine.travel(when, tick=False):
            return api.post(f"/customers/{customer}/sessions", body or None).json()

    def test_newest_first_with_their_times_and_revocation(self, api: V1, owner: Persona) -> None:
        start = timezone.now().replace(microsecond=0)
        minted = [self.mint_at(api, owner.customer.external_id, start + timedelta(seconds=i)) for i in range(3)]
        jtis = [_jti(m["token"]) for m in minted]
        assert api.delete(f"/customers/{owner.customer.public_id}/sessions/{jtis[1]}").status_code == 200
        with time_machine.travel(start + timedelta(seconds=5), tick=False):
            response = api.get(f"/customers/{owner.customer.external_id}/sessions")
        assert response.status_code == 200
        body = response.json()
        assert body == {
            "data": [
                {
                    "jti": jtis[i],
                    "issued_at": int(start.timestamp()) + i,
                    "expires_at": minted[i]["expires_at"],
                    "revoked": i == 1,
                }
                for i in (2, 1, 0)
            ],
            "next_cursor": None,
        }
        assert not any(m["token"] in response.content.decode() for m in minted)

    def test_expired_sessions_are_not_listed(self, api: V1, owner: Persona) -> None:
        start = timezone.now()
        self.mint_at(api, owner.customer.public_id, start, expires_in=60)
        live = self.mint_at(api, owner.customer.public_id, start, expires_in=3600)
        with time_machine.travel(start + timedelta(seconds=61), tick=False):
            data = api.get(f"/customers/{owner.customer.public_id}/sessions").json()["data"]
        assert [row["jti"] for row in data] == [_jti(live["token"])]

    def test_pages_walk_every_session_once(self, api: V1, owner: Persona) -> None:
        start = timezone.now().replace(microsecond=0)
        # Two mints a second: the order within a second is by jti, and the cursor keeps it.
        minted = [self.mint_at(api, owner.customer.public_id, start + timedelta(seconds=i // 2)) for i in range(5)]
        seen: list[str] = []
        cursor = None
        with time_machine.travel(start + timedelta(seconds=3), tick=False):
            for _ in range(5):
                params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
                page = api.get(f"/customers/{owner.customer.public_id}/sessions", **params).json()
                seen += [row["jti"] for row in page["data"]]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
        assert sorted(seen) == sorted(_jti(m["token"]) for m in minted)
        assert len(seen) == 5

    @pytest.mark.parametrize(
        "params", [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"cursor": "ZWNfAA"}, {"cursor": "!!"}]
    )
    def test_bad_paging_is_400(self, api: V1, owner: Persona, params: dict[str, str]) -> None:
        response = api.get(f"/customers/{owner.customer.public_id}/sessions", **params)
        assert set(params) <= set(assert_error(response, 400, "invalid_body")["fieldErrors"])

    def test_a_cursor_of_another_customer_is_400(self, api: V1, owner: Persona) -> None:
        other = api.post("/customers", {"externalId": "other", "planId": owner.plan.public_id}).json()
        for _ in range(2):
            api.post(f"/customers/{other['id']}/sessions")
        cursor = api.get(f"/customers/{other['id']}/sessions", limit=1).json()["next_cursor"]
        assert cursor
        response = api.get(f"/customers/{owner.customer.public_id}/sessions", cursor=cursor)
        assert_error(response, 400, "invalid_body")

    def test_another_stores_customer_is_404(self, outsider_api: V1, owner: Persona) -> None:
        owner.token()
        assert_error(outsider_api.get(f"/customers/{owner.customer.public_id}/sessions"), 404, "not_found")
        assert_error(outsider_api.get(f"/customers/{owner.customer.external_id}/sessions"), 404, "not_found")

    def test_a_publishable_key_is_403(self, client: Client, owner: Persona) -> None:
        publishable = V1(client, owner.publishable.plaintext)  # type: ignore[attr-defined]
        assert_error(publishable.get(f"/customers/{owner.customer.public_id}/sessions"), 403, "insufficient_scope")

    def test_listing_is_not_counted_against_the_mint_budget(self, api: V1, owner: Persona) -> None:
        from quotas.api import SessionMintThrottle

        original = SessionMintThrottle.THROTTLE_RATES
        SessionMintThrottle.THROTTLE_RATES = {**original, "session_mint": "1/hour"}
        try:
            path = f"/customers/{owner.customer.public_id}/sessions"
            assert [api.get(path).status_code for _ in range(3)] == [200, 200, 200]
            assert [api.post(path).status_code for _ in range(2)] == [200, 429]
        finally:
            SessionMintThrottle.THROTTLE_RATES = original

    def test_revoking_a_jti_never_minted_is_404_and_stores_nothing(self, api: V1, owner: Persona) -> None:
        made_up = f"{owner.customer.public_id}-{int(timezone.now().timestamp())}-madeUp123"
        assert_error(api.delete(f"/customers/{owner.customer.public_id}/sessions/{made_up}"), 404, "not_found")
        assert not ShopperSession.objects.exists()
        assert api.get(f"/customers/{owner.customer.public_id}/sessions").json()["data"] == []


class TestAuthentication:
    def test_missing_header(self, owner: Persona, client: Client) -> None:
        assert_error(client.get("/api/v1/plans"), 401, "unauthorized")

    def test_malformed_header(self, owner: Persona, client: Client) -> None:
        assert_error(client.get("/api/v1/plans", headers={"Authorization": owner.secret}), 401, "unauthorized")

    def test_unknown_key(self, client: Client, db: None) -> None:
        response = client.get("/api/v1/plans", headers={"Authorization": "Bearer gvk_live_" + "z" * 32})
        assert_error(response, 401, "invalid_key")

    def test_revoked_key(self, owner: Persona, api: V1) -> None:
        api_key_revoke(key=owner.key)
        assert_error(api.get("/plans"), 401, "invalid_key")

    def test_suspended_store(self, owner: Persona, api: V1) -> None:
        store_suspend(store=owner.store, note="test", actor=SYSTEM)
        assert_error(api.get("/plans"), 403, "account_inactive")
        assert_error(api.post("/plans", {"name": "x", "monthlyTryOns": 1}), 403, "account_inactive")

    def test_publishable_key(self, owner: Persona, client: Client) -> None:
        publishable = V1(client, owner.publishable.plaintext)  # type: ignore[attr-defined]
        assert_error(publishable.get("/plans"), 403, "insufficient_scope")
        assert_error(publishable.post(f"/customers/{owner.customer.public_id}/sessions"), 403, "insufficient_scope")


class TestTenantIsolation:
    """The outsider's key sees nothing of the owner's store: every object is 404, lists exclude them."""

    def test_every_endpoint(self, owner: Persona, outsider_api: V1) -> None:
        plan, customer = owner.plan.public_id, owner.customer.public_id
        jti = jwt.decode(owner.token(), options={"verify_signature": False})["jti"]
        for response in [
            outsider_api.get(f"/plans/{plan}"),
            outsider_api.patch(f"/plans/{plan}", {"name": "stolen"}),
            outsider_api.delete(f"/plans/{plan}"),
            outsider_api.get(f"/customers/{customer}"),
            outsider_api.get(f"/customers/{owner.customer.external_id}"),
            outsider_api.patch(f"/customers/{customer}", {"status": "PAUSED"}),
            outsider_api.delete(f"/customers/{customer}"),
            outsider_api.get(f"/customers/{customer}/usage"),
            outsider_api.post(f"/customers/{customer}/sessions"),
            outsider_api.get(f"/customers/{customer}/sessions"),
            outsider_api.delete(f"/customers/{customer}/sessions/{jti}"),
        ]:
            assert_error(response, 404, "not_found")
        assert plan not in [p["id"] for p in outsider_api.get("/plans", include_inactive="true").json()["data"]]
        assert customer not in [c["id"] for c in outsider_api.get("/customers", limit=200).json()["data"]]
        assert Plan.objects.get(pk=owner.plan.pk).name != "stolen"
        assert EndCustomer.objects.get(pk=owner.customer.pk).status == "ACTIVE"
        assert not ShopperSession.objects.filter(revoked_at__isnull=False).exists()

    def test_upserting_the_same_external_id_makes_a_separate_customer(self, owner: Persona, outsider_api: V1) -> None:
        response = outsider_api.post("/customers", {"externalId": owner.customer.external_id})
        assert response.status_code == 201
        assert response.json()["id"] != owner.customer.public_id


class TestRateLimits:
    def test_customer_creations_per_key(self, api: V1, settings: object) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK}  # type: ignore[attr-defined]
        from quotas.api import CustomerCreateThrottle

        original = CustomerCreateThrottle.THROTTLE_RATES
        CustomerCreateThrottle.THROTTLE_RATES = {**original, "customer_create": "3/hour"}
        try:
            for i in range(3):
                assert api.post("/customers", {"externalId": f"r{i}"}).status_code == 201
            response = api.post("/customers", {"externalId": "r4"})
            assert_error(response, 429, "rate_limited")
            assert int(response["Retry-After"]) > 0
            assert api.get("/customers").status_code == 200  # reads are not counted
        finally:
            CustomerCreateThrottle.THROTTLE_RATES = original

    def test_session_mints_per_key(self, api: V1, owner: Persona, outsider_api: V1, outsider: Persona) -> None:
        from quotas.api import SessionMintThrottle

        original = SessionMintThrottle.THROTTLE_RATES
        SessionMintThrottle.THROTTLE_RATES = {**original, "session_mint": "2/hour"}
        try:
            path = f"/customers/{owner.customer.public_id}/sessions"
            assert [api.post(path).status_code for _ in range(3)] == [200, 200, 429]
            other = f"/customers/{outsider.customer.public_id}/sessions"
            assert outsider_api.post(other).status_code == 200  # another key has its own budget
        finally:
            SessionMintThrottle.THROTTLE_RATES = original


def test_layer_two_flow_over_http_only(api: V1, owner: Persona, track: Track) -> None:
    """Plan → customer → session → 3 try-ons of a 2-try-on plan → usage → revoke → refused."""
    plan = api.post("/plans", {"name": "Duo", "monthlyTryOns": 2}).json()
    customer = api.post("/customers", {"externalId": "flow-1", "planId": plan["id"]}).json()
    session = api.post(f"/customers/{customer['id']}/sessions", {"expires_in": 600}).json()
    body = {"api_key": owner.secret, "end_customer_token": session["token"]}
    answers = [track(body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 402]
    assert answers[1].json()["end_customer_quota"] == {"used": 2, "limit": 2, "remaining": 0}
    assert (answers[2].json()["error"], answers[2].json()["reason"]) == ("end_customer_quota", "quota_exhausted")
    usage = api.get("/customers/flow-1/usage").json()["data"]
    assert usage["current"] == {"used": 2, "limit": 2, "remaining": 0, "ok": False}
    jti = jwt.decode(session["token"], options={"verify_signature": False})["jti"]
    assert api.delete(f"/customers/flow-1/sessions/{jti}").status_code == 200
    revoked = track(body)
    assert (revoked.status_code, revoked.json()["error"]) == (401, "invalid_session_token")
    assert Store.objects.get(pk=owner.store.pk).credit_balance == 98
