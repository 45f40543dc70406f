"""The track body (SPEC §3): read within the size limit, parsed, validated field by field.

Validated by hand rather than by a DRF serializer because it runs on every try-on and a serializer
costs more than the rest of the request's Python. `tryon.api.TrackInputSerializer` documents the
same fields for the OpenAPI schema; tryon/tests/test_report.py holds the two to the same verdicts.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from genvoris.api import invalid_body
from genvoris.errors import ApiError, ErrorCode
from tryon.models import TryOnEvent

MAX_DEPTH = 32
PRODUCT_TYPES = frozenset(TryOnEvent.ProductType.values)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class TrackReport:
    """One try-on as the backend reported it; `raw` is the body as parsed, for idempotency."""

    raw: dict[str, Any]
    api_key: str | None
    product_type: str
    variation_count: int
    generation_time_ms: int | None
    success: bool
    page_url: str
    product_title: str
    origin: str
    end_customer_token: str | None


def read_report(body: bytes, content_length: str | None) -> TrackReport:
    return validate_report(parse_body(body, content_length))


def parse_body(raw: bytes, content_length: str | None) -> dict[str, Any]:
    limit = settings.TRACK_MAX_BODY_BYTES
    declared = content_length or "0"
    if not declared.isdigit() or int(declared) > limit or len(raw) > limit:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit // 1024} KB.")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _body_error("The request body is not valid JSON.", "Invalid JSON.") from None
    if not isinstance(body, dict):
        raise _body_error("The request body must be a JSON object.", "Expected a JSON object.")
    if _depth(body) > MAX_DEPTH:
        raise _body_error(f"The request body is nested deeper than {MAX_DEPTH} levels.", "Nested too deeply.")
    return body


def _depth(value: Any, level: int = 1) -> int:
    """How deep the JSON nests, stopping as soon as it is past the limit."""
    if level > MAX_DEPTH or not isinstance(value, (dict, list)):
        return level
    children = value.values() if isinstance(value, dict) else value
    return max((_depth(child, level + 1) for child in children if isinstance(child, (dict, list))), default=level)


def _body_error(message: str, field_message: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_BODY, message, fieldErrors={"body": [field_message]})


Check = Callable[[Any], Any]


def validate_report(body: dict[str, Any]) -> TrackReport:
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, (check, default) in _FIELDS.items():
        try:
            values[name] = check(body[name]) if name in body else default
        except ValueError as problem:
            errors[name] = [str(problem)]
    if errors:
        raise invalid_body(errors)
    token = values.pop("end_customer_token")
    return TrackReport(raw=body, end_customer_token=token or None, **values)


def _string(max_length: int, *, blank: bool = True, null: bool = False) -> Check:
    """As DRF's CharField: surrounding whitespace trimmed, NUL and lone surrogates refused."""

    def check(value: Any) -> str | None:
        if value is None:
            if null:
                return None
            raise ValueError("This field may not be null.")
        if not isinstance(value, str):
            raise ValueError("Must be a string.")
        value = value.strip()
        if not value and not blank:
            raise ValueError("This field may not be blank.")
        if len(value) > max_length:
            raise ValueError(f"Ensure this field has no more than {max_length} characters.")
        if "\x00" in value:
            raise ValueError("Null characters are not allowed.")
        if surrogate := _SURROGATE.search(value):
            raise ValueError(f"Surrogate characters are not allowed: U+{ord(surrogate[0]):X}.")
        return value

    return check


def _integer(low: int, high: int, *, null: bool = False) -> Check:
    def check(value: Any) -> int | None:
        if value is None and null:
            return None
        if value is None:
            raise ValueError("This field may not be null.")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("A valid integer is required.")
        if value < low:
            raise ValueError(f"Ensure this value is greater than or equal to {low}.")
        if value > high:
            raise ValueError(f"Ensure this value is less than or equal to {high}.")
        return value

    return check


def _boolean(value: Any) -> bool:
    if value is None:
        raise ValueError("This field may not be null.")
    if not isinstance(value, bool):
        raise ValueError("Must be true or false.")
    return value


def _product_type(value: Any) -> str:
    if value is None:
        raise ValueError("This field may not be null.")
    if not isinstance(value, str) or value not in PRODUCT_TYPES:
        raise ValueError(f'"{value}" is not a valid choice.')
    return value


# name → (check, value when absent); unknown keys are ignored (SPEC §3).
_FIELDS: dict[str, tuple[Check, Any]] = {
    "api_key": (_string(200, blank=False), None),
    "product_type": (_product_type, TryOnEvent.ProductType.APPAREL.value),
    "variation_count": (_integer(1, 16), 1),
    "generation_time_ms": (_integer(0, 2_147_483_647, null=True), None),
    "success": (_boolean, True),
    "page_url": (_string(2048), ""),
    "product_title": (_string(300), ""),
    "origin": (_string(2048), ""),
    "end_customer_token": (_string(8192, null=True), None),
}
