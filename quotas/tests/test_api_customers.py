"""/api/v1/customers: upsert semantics, pagination, updates, usage."""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from conftest import V1, Persona
from quotas.models import EndCustomer, UsagePeriod
from quotas.tests.test_api_plans import ISO_MS_Z, assert_error

pytestmark = pytest.mark.django_db

CUSTOMER_FIELDS = {
    "id",
    "externalId",
    "email",
    "planId",
    "status",
    "metadata",
    "periodStart",
    "periodEnd",
    "createdAt",
    "updatedAt",
}


def upsert(api: V1, **body: Any) -> Any:
    return api.post("/customers", {"externalId": "cust-1", **body})


def periods(external_id: str = "cust-1") -> list[UsagePeriod]:
    return list(UsagePeriod.objects.filter(customer__external_id=external_id).order_by("period_start"))


class TestUpsert:
    def test_new_customer_is_201_with_the_customer_object(self, api: V1, owner: Persona) -> None:
        response = upsert(api, email="a@example.com", planId=owner.plan.public_id, metadata={"tier": "gold"})
        assert response.status_code == 201
        body = response.json()
        assert set(body) == CUSTOMER_FIELDS
        assert body["id"].startswith("ec_")
        assert (body["externalId"], body["email"], body["planId"], body["status"], body["metadata"]) == (
            "cust-1",
            "a@example.com",
            owner.plan.public_id,
            "ACTIVE",
            {"tier": "gold"},
        )
        for field in ("periodStart", "periodEnd", "createdAt", "updatedAt"):
            assert ISO_MS_Z.match(body[field])
        assert [(p.used, p.limit) for p in periods()] == [(0, 10)]

    def test_existing_customer_is_200_and_keeps_its_running_period(self, api: V1, owner: Persona) -> None:
        first = upsert(api, planId=owner.plan.public_id).json()
        UsagePeriod.objects.filter(customer__public_id=first["id"]).update(used=4)
        again = upsert(api, planId=owner.plan.public_id, email="new@example.com")
        assert again.status_code == 200
        assert again.json()["id"] == first["id"]
        assert again.json()["periodStart"] == first["periodStart"]
        assert again.json()["email"] == "new@example.com"
        assert [(p.used, p.limit) for p in periods()] == [(4, 10)]

    def test_a_plan_change_starts_a_new_period(self, api: V1, owner: Persona) -> None:
        bigger = api.post("/plans", {"name": "Big", "monthlyTryOns": 50}).json()
        first = upsert(api, planId=owner.plan.public_id).json()
        UsagePeriod.objects.filter(customer__public_id=first["id"]).update(used=9)
        changed = upsert(api, planId=bigger["id"]).json()
        assert changed["planId"] == bigger["id"]
        assert changed["periodStart"] > first["periodStart"]
        assert [(p.used, p.limit) for p in periods()] == [(9, 10), (0, 50)]
        assert periods()[0].period_end == periods()[1].period_start  # the old one closed when the new one opened

    def test_an_ended_period_rolls(self, api: V1, owner: Persona) -> None:
        first = upsert(api, planId=owner.plan.public_id).json()
        with time_machine.travel(timezone.now() + timedelta(days=31)):
            rolled = upsert(api, planId=owner.plan.public_id).json()
        assert rolled["periodStart"] > first["periodStart"]
        assert len(periods()) == 2

    def test_plan_of_another_store_is_403(self, api: V1, outsider: Persona) -> None:
        assert_error(upsert(api, planId=outsider.plan.public_id), 403, "plan_not_found")
        assert not EndCustomer.objects.filter(external_id="cust-1").exists()

    def test_no_plan_is_allowed(self, api: V1) -> None:
        body = upsert(api).json()
        assert body["planId"] is None
        assert periods() == []

    @pytest.mark.parametrize(
        "metadata",
        [
            {f"k{i}": i for i in range(21)},
            {"big": "x" * 4100},
            {"nested": {"a": 1}},
            {"list": [1, 2]},
        ],
    )
    def test_metadata_limits(self, api: V1, metadata: dict[str, Any]) -> None:
        error = assert_error(upsert(api, metadata=metadata), 400, "metadata_too_large")
        assert "metadata" in error["fieldErrors"]

    def test_metadata_must_be_an_object(self, api: V1) -> None:
        assert_error(upsert(api, metadata=["a"]), 400, "invalid_body")

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"externalId": ""}, "externalId"),
            ({"externalId": 5}, "externalId"),
            ({"externalId": "a", "email": "nope"}, "email"),
        ],
    )
    def test_validation(self, api: V1, body: dict[str, Any], field: str) -> None:
        assert field in assert_error(api.post("/customers", body), 400, "invalid_body")["fieldErrors"]


class TestReadAndList:
    def test_read_by_id_or_external_id_with_plan_and_usage(self, api: V1, owner: Persona) -> None:
        by_id = api.get(f"/customers/{owner.customer.public_id}").json()
        by_external = api.get(f"/customers/{owner.customer.external_id}").json()
        assert by_id == by_external
        assert set(by_id) == CUSTOMER_FIELDS | {"plan", "usage"}
        assert by_id["plan"]["id"] == owner.plan.public_id
        assert by_id["usage"] == [
            {
                "period_start": by_id["periodStart"],
                "period_end": by_id["periodEnd"],
                "used": 0,
                "limit": 10,
                "remaining": 10,
            }
        ]

    def test_usage_history_is_capped_at_12(self, api: V1, owner: Persona) -> None:
        for months in range(1, 15):
            with time_machine.travel(timezone.now() + timedelta(days=30 * months + 1)):
                upsert(api, externalId=owner.customer.external_id)
        assert len(api.get(f"/customers/{owner.customer.public_id}").json()["usage"]) == 12

    def test_list_paginates_and_filters(self, api: V1, owner: Persona) -> None:
        for i in range(7):
            upsert(api, externalId=f"c{i}")
        api.patch("/customers/c3", {"status": "PAUSED"})
        seen: list[str] = []
        cursor = None
        while True:
            page = api.get("/customers", limit=3, **({"cursor": cursor} if cursor else {})).json()
            assert len(page["data"]) <= 3
            seen += [c["externalId"] for c in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted([owner.customer.external_id] + [f"c{i}" for i in range(7)])
        paused = api.get("/customers", status="PAUSED").json()
        assert [c["externalId"] for c in paused["data"]] == ["c3"]
        assert paused["next_cursor"] is None

    @pytest.mark.parametrize(
        ("params"), [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"status": "GONE"}, {"cursor": "!!"}]
    )
    def test_bad_list_parameters(self, api: V1, params: dict[str, str]) -> None:
        assert_error(api.get("/customers", **params), 400, "invalid_body")


class TestPatchAndDelete:
    def test_patch_fields(self, api: V1, owner: Persona) -> None:
        path = f"/customers/{owner.customer.public_id}"
        body = api.patch(path, {"email": "x@example.com", "status": "paused", "metadata": {"a": 1}}).json()
        assert (body["email"], body["status"], body["metadata"]) == ("x@example.com", "PAUSED", {"a": 1})
        assert api.patch(path, {"metadata": None}).json()["metadata"] == {}
        assert api.patch(path, {"planId": None}).json()["planId"] is None
        assert_error(api.patch(path, {"status": "DELETED"}), 400, "invalid_body")

    def test_reset_period(self, api: V1, owner: Persona) -> None:
        UsagePeriod.objects.filter(customer=owner.customer).update(used=7)
        body = api.patch(f"/customers/{owner.customer.external_id}", {"resetPeriod": True}).json()
        assert body["usage"][0]["used"] == 0
        assert body["usage"][1]["used"] == 7

    def test_delete_is_a_soft_cancel(self, api: V1, owner: Persona) -> None:
        assert api.delete(f"/customers/{owner.customer.public_id}").status_code == 204
        assert EndCustomer.objects.get(pk=owner.customer.pk).status == "CANCELLED"
        assert api.get(f"/customers/{owner.customer.public_id}").json()["status"] == "CANCELLED"


class TestUsage:
    def test_usage_payload(self, api: V1, owner: Persona) -> None:
        UsagePeriod.objects.filter(customer=owner.customer).update(used=3)
        data = api.get(f"/customers/{owner.customer.public_id}/usage").json()["data"]
        assert set(data) == {
            "customer_id",
            "external_id",
            "plan",
            "status",
            "period_start",
            "period_end",
            "current",
            "history",
        }
        assert data["customer_id"] == owner.customer.public_id
        # Resource casing inside the snake_case payload, as the published SDKs read it (SPEC §14).
        assert data["plan"] == {"id": owner.plan.public_id, "name": owner.plan.name, "monthlyTryOns": 10}
        assert data["current"] == {"used": 3, "limit": 10, "remaining": 7, "ok": True}
        assert len(data["history"]) == 1

    def test_usage_of_an_ended_period_reads_as_a_fresh_one_without_writing(self, api: V1, owner: Persona) -> None:
        UsagePeriod.objects.filter(customer=owner.customer).update(used=10)
        with time_machine.travel(timezone.now() + timedelta(days=31)):
            data = api.get(f"/customers/{owner.customer.public_id}/usage").json()["data"]
        assert data["current"] == {"used": 0, "limit": 10, "remaining": 10, "ok": True}
        assert UsagePeriod.objects.filter(customer=owner.customer).count() == 1

    def test_paused_customer_is_not_ok(self, api: V1, owner: Persona) -> None:
        EndCustomer.objects.filter(pk=owner.customer.pk).update(status="PAUSED")
        assert api.get(f"/customers/{owner.customer.public_id}/usage").json()["data"]["current"]["ok"] is False
