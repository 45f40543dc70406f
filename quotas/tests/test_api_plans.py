"""/api/v1/plans: the wire format, validation messages, soft delete."""

import re
from typing import Any

import pytest

from conftest import V1, Persona
from quotas.models import Plan

pytestmark = pytest.mark.django_db

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == code
    assert body["message"]
    assert body["detail"]
    return body


def test_create_returns_201_and_the_plan_object(api: V1, owner: Persona) -> None:
    response = api.post("/plans", {"name": "Pro", "monthlyTryOns": 100, "externalPriceId": "price_123"})
    assert response.status_code == 201
    plan = response.json()
    assert set(plan) == {"id", "name", "monthlyTryOns", "externalPriceId", "active", "createdAt", "updatedAt"}
    assert plan["id"].startswith("pln_")
    assert (plan["name"], plan["monthlyTryOns"], plan["externalPriceId"], plan["active"]) == (
        "Pro",
        100,
        "price_123",
        True,
    )
    assert ISO_MS_Z.match(plan["createdAt"])
    assert ISO_MS_Z.match(plan["updatedAt"])
    assert Plan.objects.get(public_id=plan["id"]).store == owner.store


def test_create_without_price_id_answers_null(api: V1) -> None:
    assert api.post("/plans", {"name": "Basic", "monthlyTryOns": 5}).json()["externalPriceId"] is None


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"monthlyTryOns": 5}, "name", "Must be 1 to 80 characters."),
        ({"name": "", "monthlyTryOns": 5}, "name", "Must be 1 to 80 characters."),
        ({"name": "x" * 81, "monthlyTryOns": 5}, "name", "Must be 1 to 80 characters."),
        ({"name": 7, "monthlyTryOns": 5}, "name", "Must be a string."),
        ({"name": "P", "monthlyTryOns": 0}, "monthlyTryOns", "Must be an integer between 1 and 1,000,000."),
        ({"name": "P", "monthlyTryOns": 1_000_001}, "monthlyTryOns", "Must be an integer between 1 and 1,000,000."),
        ({"name": "P", "monthlyTryOns": "5"}, "monthlyTryOns", "Must be an integer between 1 and 1,000,000."),
        ({"name": "P", "monthlyTryOns": 5, "active": "yes"}, "active", "Must be true or false."),
    ],
)
def test_validation_messages(api: V1, body: dict[str, Any], field: str, message: str) -> None:
    error = assert_error(api.post("/plans", body), 400, "invalid_body")
    assert error["fieldErrors"][field] == [message]
    assert not Plan.objects.filter(name="P").exists()


@pytest.mark.parametrize("raw", ["[1, 2]", '"plan"', "{bad json"])
def test_body_must_be_a_json_object(api: V1, raw: str) -> None:
    response = api.client.post("/api/v1/plans", data=raw, content_type="application/json", headers=api.headers)
    assert_error(response, 400, "invalid_body")


def test_form_bodies_are_refused(api: V1) -> None:
    response = api.client.post("/api/v1/plans", data={"name": "x"}, headers=api.headers)
    assert_error(response, 415, "unsupported_media_type")


def test_list_hides_inactive_plans_unless_asked(api: V1, owner: Persona) -> None:
    inactive = api.post("/plans", {"name": "Old", "monthlyTryOns": 5, "active": False}).json()
    listed = [p["id"] for p in api.get("/plans").json()["data"]]
    assert owner.plan.public_id in listed
    assert inactive["id"] not in listed
    for flag in ("include_inactive", "includeInactive"):
        assert inactive["id"] in [p["id"] for p in api.get("/plans", **{flag: "true"}).json()["data"]]
    assert_error(api.get("/plans", include_inactive="maybe"), 400, "invalid_body")


def test_read_and_patch(api: V1, owner: Persona) -> None:
    path = f"/plans/{owner.plan.public_id}"
    assert api.get(path).json()["monthlyTryOns"] == 10
    patched = api.patch(path, {"monthlyTryOns": 25, "name": "Plus"}).json()
    assert (patched["monthlyTryOns"], patched["name"]) == (25, "Plus")
    assert patched["updatedAt"] >= patched["createdAt"]
    assert api.patch(path, {"externalPriceId": None}).json()["externalPriceId"] is None
    assert_error(api.patch(path, {"monthlyTryOns": -1}), 400, "invalid_body")


def test_delete_is_a_soft_disable(api: V1, owner: Persona) -> None:
    response = api.delete(f"/plans/{owner.plan.public_id}")
    assert response.status_code == 204
    assert response.content == b""
    plan = Plan.objects.get(pk=owner.plan.pk)
    assert plan.active is False
    assert owner.customer.plan == plan  # customers keep it


def test_unknown_plan_is_404(api: V1) -> None:
    assert_error(api.get("/plans/pln_nope"), 404, "not_found")


def test_no_trailing_slash_and_no_redirect(api: V1) -> None:
    response = api.post("/plans/", {"name": "Pro", "monthlyTryOns": 1})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


class TestDuplicateNames:
    """Found in issue 13: a store could hold two plans of one name. Refused as every field error
    is: 400 invalid_body with fieldErrors, by create and by rename alike."""

    MESSAGE = "This store already has a plan named “Pro”; choose another name."

    def test_create_refuses_a_taken_name_in_any_case(self, api: V1, owner: Persona) -> None:
        api.post("/plans", {"name": "Pro", "monthlyTryOns": 5})
        error = assert_error(api.post("/plans", {"name": " PRO ", "monthlyTryOns": 9}), 400, "invalid_body")
        assert error["fieldErrors"] == {"name": [self.MESSAGE]}
        assert list(Plan.objects.filter(store=owner.store, name__iexact="pro").values_list("monthly_try_ons")) == [(5,)]

    def test_a_rename_onto_a_taken_name_is_refused(self, api: V1, owner: Persona) -> None:
        api.post("/plans", {"name": "Pro", "monthlyTryOns": 5})
        error = assert_error(api.patch(f"/plans/{owner.plan.public_id}", {"name": "pro"}), 400, "invalid_body")
        assert error["fieldErrors"] == {"name": [self.MESSAGE]}
        owner.plan.refresh_from_db()
        assert owner.plan.name != "pro"

    def test_a_disabled_plan_keeps_its_name(self, api: V1, owner: Persona) -> None:
        pro = api.post("/plans", {"name": "Pro", "monthlyTryOns": 5}).json()
        api.delete(f"/plans/{pro['id']}")
        assert_error(api.post("/plans", {"name": "Pro", "monthlyTryOns": 5}), 400, "invalid_body")
        assert Plan.objects.filter(store=owner.store, name="Pro").count() == 1
