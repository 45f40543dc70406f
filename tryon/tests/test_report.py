"""The track body: the service's own validator and the documented serializer give one verdict."""

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Persona
from genvoris.api import field_errors
from genvoris.errors import ApiError
from genvoris.jsonbody import MAX_DEPTH
from tryon.api import TrackInputSerializer
from tryon.services.report import read_report, validate_report

FIELDS = list(TrackInputSerializer().fields)

json_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text()
edge_strings = st.sampled_from(["", " ", " padded ", "x" * 301, "x" * 2049, "a\x00b", "\ud800", "apparel", "car"])
values = json_scalars | edge_strings | st.integers(-2, 20) | st.lists(st.integers(), max_size=2) | st.just({})


def serializer_verdict(body: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
    serializer = TrackInputSerializer(data=body)
    if not serializer.is_valid():
        return set(field_errors(serializer.errors)), {}
    data = dict(serializer.validated_data)
    data.setdefault("api_key", None)
    data.setdefault("generation_time_ms", None)
    data["end_customer_token"] = data.get("end_customer_token") or None
    return set(), data


def validator_verdict(body: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
    try:
        report = validate_report(body)
    except ApiError as error:
        return set(error.extra["fieldErrors"]), {}
    return set(), {name: getattr(report, name) for name in FIELDS}


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*FIELDS, "unknown"]), values, max_size=5))
def test_the_validator_agrees_with_the_documented_serializer(body: dict[str, Any]) -> None:
    assert validator_verdict(body) == serializer_verdict(body)


def test_unknown_fields_are_ignored_and_kept_for_the_idempotency_hash() -> None:
    report = validate_report({"unknown": [1, 2], "variation_count": 3})
    assert report.variation_count == 3
    assert report.raw == {"unknown": [1, 2], "variation_count": 3}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 3000])
def test_deep_nesting_is_invalid_body(depth: int) -> None:
    raw = json.dumps({"x": 1})[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(ApiError) as refused:
        read_report(lambda: raw.encode())
    assert refused.value.status == 400
    assert "body" in refused.value.extra["fieldErrors"]


def test_nesting_at_the_limit_is_read() -> None:
    raw = '{"deep": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    assert "deep" in read_report(lambda: raw.encode()).raw


# --- the endpoint under random bodies: never a 5xx, never a debit it did not answer -------------

json_values = st.recursive(
    json_scalars | edge_strings,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=12,
)


@pytest.mark.django_db
# One store for every example: each asserts on what its own request changed.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    extra=st.dictionaries(st.sampled_from([*FIELDS, "unknown", "\x00", "\ud800"]), json_values, max_size=6),
    raw=st.one_of(st.none(), st.binary(max_size=40), st.text(max_size=40).map(str.encode)),
    idempotency_key=st.one_of(st.none(), st.text(max_size=300)),
)
def test_no_body_makes_track_fail(
    owner: Persona, extra: dict[str, Any], raw: bytes | None, idempotency_key: str | None
) -> None:
    from django.test import Client

    from stores.models import Store
    from tryon.models import TryOnEvent

    persona = owner
    body = raw if raw is not None else json.dumps({"api_key": persona.secret, **extra}).encode("utf-8", "surrogatepass")
    headers = {"x-internal-secret": "test-internal-secret"}
    if idempotency_key is not None and "\x00" not in idempotency_key and idempotency_key.isprintable():
        headers["Idempotency-Key"] = idempotency_key
    before = Store.objects.get(pk=persona.store.pk).credit_balance
    debited = TryOnEvent.objects.filter(store=persona.store, debited=True).count()
    response = Client().post("/api/tryon/track", data=body, content_type="application/json", headers=headers)
    assert response.status_code < 500, response.content[:300]
    assert set(response.json()) >= ({"success"} if response.status_code == 200 else {"error", "message", "detail"})
    spent = before - Store.objects.get(pk=persona.store.pk).credit_balance
    new_debits = TryOnEvent.objects.filter(store=persona.store, debited=True).count() - debited
    assert (
        spent
        == new_debits
        == (
            1
            if response.status_code == 200
            and response.json()["success"]
            and not response.has_header("Idempotent-Replayed")
            and extra.get("success", True) is True
            else 0
        )
    )
