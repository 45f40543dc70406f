"""Keyset pages of /api/v1 lists: `limit` and an opaque `next_cursor` naming the last row given."""

import base64
import binascii
import re

from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request

from genvoris.errors import ApiError, ErrorCode, invalid_field
from genvoris.ids import is_public_id

# ASCII digits only: str.isdigit also takes "²", which int() refuses.
_LIMIT = re.compile(r"[0-9]{1,3}")


def page_parameters(what: str, *, maximum: int, default: int, cursor_pattern: str) -> list[OpenApiParameter]:
    """How the schema states `limit` and `cursor`, with the bounds page_limit and cursor_decode keep."""
    return [
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
            description=f"{what} per page, 1 to {maximum}.",
        ),
        OpenApiParameter(
            "cursor",
            {"type": "string", "pattern": f"^{cursor_pattern}$"},
            description="next_cursor of the previous page, as given.",
        ),
    ]


def page_limit(request: Request, *, maximum: int, default: int) -> int:
    text = request.query_params.get("limit", str(default))
    if not _LIMIT.fullmatch(text) or not 1 <= int(text) <= maximum:
        raise invalid_field("limit", f"Must be an integer from 1 to {maximum}.")
    return int(text)


def cursor_encode(public_id: str) -> str:
    return base64.urlsafe_b64encode(public_id.encode()).decode().rstrip("=")


def cursor_decode(cursor: str, prefix: str) -> str:
    """The id of type `prefix` a next_cursor names; anything else (`ZWNfAA` is "ec_" and a NUL) is 400."""
    try:
        value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = ""
    if not (value.startswith(f"{prefix}_") and is_public_id(value)):
        raise ApiError(
            ErrorCode.INVALID_BODY, "The cursor is not valid.", fieldErrors={"cursor": ["Use next_cursor as given."]}
        )
    return value
