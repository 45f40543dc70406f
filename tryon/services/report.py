"""The track body (SPEC §3): read within the size limit, parsed, validated field by field.

Validated by hand rather than by a DRF serializer because it runs on every try-on and a serializer
costs more than the rest of the request's Python. `tryon.api.TrackInputSerializer` documents the
same fields for the OpenAPI schema; tryon/tests/test_report.py holds the two to the same verdicts.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genvoris.api import invalid_body
from genvoris.errors import ApiError, ErrorCode
from genvoris.ids import storable
from genvoris.jsonbody import UNSTORABLE, parse_json
from tryon.models import TryOnEvent

PRODUCT_TYPES = frozenset(TryOnEvent.ProductType.values)
# The widget's visit id (SPEC §16): what widget.js makes, and what the events and conversions
# endpoints take as `sessionId`. `\A…\Z`, not `^…$`: `$` would let a trailing newline through.
WIDGET_SESSION_ID = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
WIDGET_SESSION_ID_RULE = "Must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -."


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
    widget_session_id: str | None


def read_report(read_body: Callable[[], bytes]) -> TrackReport:
    """The body, read only now (after step 1) within the size limit and parsed by the one JSON
    reader of the project (depth, NUL, surrogates: genvoris/jsonbody.py), then validated."""
    body = parse_json(read_body())
    if not isinstance(body, dict):
        raise ApiError(
            ErrorCode.INVALID_BODY,
            "The request body must be a JSON object.",
            fieldErrors={"body": ["Expected a JSON object."]},
        )
    return validate_report(body)


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
        if not storable(value):  # as DRF's CharField: no NUL, no lone surrogate
            raise ValueError(UNSTORABLE)
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


def _widget_session_id(value: Any) -> str | None:
    """Taken as sent, never trimmed: it must equal the id the shopper's checkout reports."""
    if value is None:
        return None
    if not isinstance(value, str) or not WIDGET_SESSION_ID.match(value):
        raise ValueError(WIDGET_SESSION_ID_RULE)
    return value


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
    "widget_session_id": (_widget_session_id, None),
}
