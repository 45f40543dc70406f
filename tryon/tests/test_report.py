"""The track body: the service's own validator and the documented serializer give one verdict."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genvoris.api import field_errors
from genvoris.errors import ApiError
from tryon.api import TrackInputSerializer
from tryon.services.report import MAX_DEPTH, parse_body, validate_report

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
        parse_body(raw.encode(), str(len(raw)))
    assert refused.value.status == 400
    assert "body" in refused.value.extra["fieldErrors"]


def test_nesting_at_the_limit_is_read() -> None:
    raw = '{"deep": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    assert "deep" in parse_body(raw.encode(), str(len(raw)))
