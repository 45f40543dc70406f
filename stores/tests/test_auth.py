"""The per-key budgets of /api/v1 (stores.auth.StoreKeyRateThrottle): sized as SPEC §14 says,
shared by every worker when the cache is, and never a 500 when the cache is not there."""

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client, override_settings

from conftest import V1, Persona
from genvoris.tests.caches import dead_cache, hung_cache, shared_redis
from quotas.api import CustomerCreateThrottle
from quotas.models import EndCustomer
from quotas.tests.test_api_plans import assert_error

pytestmark = pytest.mark.django_db

# 17.4 s into a minute: 42.6 s of the window are left, so Retry-After is exactly 43.
MOMENT = datetime(2026, 12, 1, 12, 0, 17, 400_000, tzinfo=UTC)


class TestCustomerCreateBudget:
    def test_is_100_a_minute_by_default(self, settings: Any) -> None:
        assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["customer_create"] == "100/min"
        assert CustomerCreateThrottle().rate == "100/min"

    def test_the_101st_create_in_a_minute_is_429_with_the_seconds_left(
        self, api: V1, owner: Persona, time_machine: Any
    ) -> None:
        time_machine.move_to(MOMENT, tick=False)
        assert {api.post("/customers", {"externalId": f"bulk-{i}"}).status_code for i in range(100)} == {201}
        refused = api.post("/customers", {"externalId": "bulk-100"})
        assert_error(refused, 429, "rate_limited")
        assert refused["Retry-After"] == "43"
        assert not EndCustomer.objects.filter(store=owner.store, external_id="bulk-100").exists()
        assert EndCustomer.objects.filter(store=owner.store, external_id__startswith="bulk-").count() == 100

        time_machine.move_to(datetime(2026, 12, 1, 12, 1, 0, tzinfo=UTC), tick=False)
        assert api.post("/customers", {"externalId": "bulk-100"}).status_code == 201  # a new minute

    def test_the_last_second_of_a_window_still_says_one(self, api: V1, monkeypatch: Any, time_machine: Any) -> None:
        monkeypatch.setattr(CustomerCreateThrottle, "THROTTLE_RATES", {"customer_create": "1/min"})
        time_machine.move_to(datetime(2026, 12, 1, 12, 0, 59, 999_000, tzinfo=UTC), tick=False)
        assert api.post("/customers", {"externalId": "a"}).status_code == 201
        assert api.post("/customers", {"externalId": "b"})["Retry-After"] == "1"


class TestWorkers:
    """Each worker is a Client whose cache is configured afresh (new connections) per request."""

    @pytest.fixture(autouse=True)
    def _three_a_minute(self, monkeypatch: Any, time_machine: Any) -> None:
        monkeypatch.setattr(CustomerCreateThrottle, "THROTTLE_RATES", {"customer_create": "3/min"})
        time_machine.move_to(MOMENT, tick=False)  # all within one window

    def alternate(self, owner: Persona, caches: list[dict[str, Any]], requests: int) -> list[int]:
        workers = [(V1(Client(), owner.secret), cache) for cache in caches]
        statuses = []
        for i in range(requests):
            worker, cache = workers[i % len(workers)]
            with override_settings(CACHES={"default": cache}):
                statuses.append(worker.post("/customers", {"externalId": f"w-{i}"}).status_code)
        return statuses

    def test_workers_sharing_redis_share_one_count(self, owner: Persona) -> None:
        redis = shared_redis()
        assert self.alternate(owner, [redis, redis], 6) == [201, 201, 201, 429, 429, 429]

    def test_workers_with_local_memory_count_alone(self, owner: Persona) -> None:
        """Why genvoris.W001 warns: a per-process cache lets each worker spend the whole budget."""
        local = [
            {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": f"worker-{uuid.uuid4().hex}"}
            for _ in range(2)
        ]
        assert self.alternate(owner, local, 8) == [201] * 6 + [429] * 2


class TestCacheOutage:
    """Fail open (docs/decisions.md, "REST API v1"): served and logged, never a 500."""

    @pytest.fixture(params=["dead", "hung"])
    def outage(self, request: pytest.FixtureRequest, settings: Any) -> Any:
        if request.param == "dead":
            settings.CACHES = {"default": dead_cache()}
            yield None
            return
        with hung_cache() as hung:
            settings.CACHES = {"default": hung.config}
            yield hung

    def test_a_customer_upsert_is_served(
        self, api: V1, owner: Persona, outage: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        response = api.post("/customers", {"externalId": "during-outage"})
        assert response.status_code == 201
        assert EndCustomer.objects.filter(store=owner.store, external_id="during-outage").exists()
        assert "rate-limit cache unreachable" in caplog.text
        if outage is not None:
            assert outage.connections() == 1  # one cache call, one socket timeout, no retry

    def test_a_session_mint_is_served(
        self, api: V1, owner: Persona, outage: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        response = api.post(f"/customers/{owner.customer.public_id}/sessions")
        assert response.status_code == 200
        assert response.json()["token"]
        assert "rate-limit cache unreachable" in caplog.text
        if outage is not None:
            assert outage.connections() == 1
