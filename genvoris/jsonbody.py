"""The one place JSON bodies are read and parsed, within the bounds of SPEC §4: a size limit
(chunked bodies included), at most 32 levels of nesting, no text a database cannot hold (NUL,
lone surrogates) and no NaN or infinity, which JSON does not have and no renderer can write back.

Every refusal is `400 invalid_body` with `fieldErrors` naming where, or `413 payload_too_large`.
"""

import json
import math
from collections.abc import Iterator, Mapping
from typing import IO, Any

from django.conf import global_settings, settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from rest_framework.parsers import JSONParser

from genvoris.errors import ApiError, ErrorCode
from genvoris.ids import storable

MAX_DEPTH = 32
UNSTORABLE = "Must not contain NUL characters or unpaired surrogates."
_READ_SIZE = 64 * 1024


def body_limit() -> int:
    """Django's bound on a body held in memory. None means unbounded to Django, but a chunked body
    must stop somewhere, so that gets Django's default."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or global_settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0


# --- reading ------------------------------------------------------------------------------------


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The body, at most `limit` bytes, else 413.

    A `Transfer-Encoding: chunked` body comes without CONTENT_LENGTH, so Django's `request.body`
    reads nothing of it; the server (gunicorn sets `wsgi.input_terminated`) ends `wsgi.input` where
    the body ends, so it is read from there, one byte past the limit to know it was too large.
    """
    if not _streamed(request):
        return _declared_body(request, limit)
    raw = _read_within(request.META["wsgi.input"], limit)
    request._body = raw  # where Django keeps request.body, so a second read sees the same bytes
    return raw


def too_large(limit: int) -> ApiError:
    return ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit:,} bytes.")


def _streamed(request: HttpRequest) -> bool:
    """No length declared, but the server marks where the body ends (chunked transfer coding)."""
    meta = request.META
    if hasattr(request, "_body") or meta.get("CONTENT_LENGTH"):
        return False
    return "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() or bool(meta.get("wsgi.input_terminated"))


def _declared_body(request: HttpRequest, limit: int) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0  # as Django reads it: nothing
    if declared > limit:
        raise too_large(limit)
    try:
        raw = request.body
    except RequestDataTooBig:
        raise too_large(limit) from None
    except OSError:  # UnreadablePostError: the client went away
        raise _unreadable() from None
    if len(raw) > limit:
        raise too_large(limit)
    return raw


def _read_within(stream: IO[bytes], limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit + 1
    try:
        while left > 0 and (chunk := stream.read(min(left, _READ_SIZE))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError:  # the client went away, or sent a malformed chunk
        raise _unreadable() from None
    if left <= 0:
        raise too_large(limit)
    return b"".join(chunks)


def _unreadable() -> ApiError:
    return _refused("The request body could not be read.", "body", "Unreadable body.")


# --- parsing ------------------------------------------------------------------------------------


class _NotAJsonNumber(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotAJsonNumber(f"{name} is not a JSON number.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotAJsonNumber(f"{text} is out of range.")
    return value


def parse_json(raw: bytes) -> Any:
    """`raw` as UTF-8 JSON within the bounds above, else `ApiError(invalid_body)`."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:  # nested so deep the decoder itself gave up
        raise _too_deep() from None
    except ValueError as error:  # UnicodeDecodeError, and integers past Python's 4,300 digits, too
        raise _refused("The request body is not valid JSON.", "body", _why(error)) from None
    _check(value)
    return value


def _why(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"Invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}."
    if isinstance(error, UnicodeDecodeError):
        return "The body is not UTF-8."
    if isinstance(error, _NotAJsonNumber):
        return str(error)
    return "Invalid JSON."


def _check(value: Any) -> None:
    """Depth and text, walked with a list rather than recursion so no body can exhaust the stack."""
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        node, path, depth = pending.pop()
        if isinstance(node, str) and not storable(node):
            raise _refused("The request body holds text that cannot be stored.", path or "body", UNSTORABLE)
        if isinstance(node, dict | list):
            if depth >= MAX_DEPTH:
                raise _too_deep()
            pending.extend(_children(node, path, depth + 1))


def _children(node: dict[str, Any] | list[Any], path: str, depth: int) -> Iterator[tuple[Any, str, int]]:
    if isinstance(node, list):
        return ((child, f"{path or 'body'}[{index}]", depth) for index, child in enumerate(node))
    for key in node:
        if not storable(key):  # checked before any path names it: the error must render
            raise _refused("The request body holds text that cannot be stored.", path or "body", f"Keys: {UNSTORABLE}")
    return ((child, f"{path}.{key}" if path else key, depth) for key, child in node.items())


def _too_deep() -> ApiError:
    return _refused(f"The request body is nested deeper than {MAX_DEPTH} levels.", "body", "Nested too deeply.")


def _refused(message: str, field: str, reason: str) -> ApiError:
    return ApiError(ErrorCode.INVALID_BODY, message, detail=f"{field}: {reason}", fieldErrors={field: [reason]})


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser within the same bounds, for every view that reads `request.data`.

    DRF hands a parser nothing of a body without CONTENT_LENGTH, so views that must take chunked
    bodies read them with `read_body` (`genvoris.api.json_object` does).
    """

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        return parse_json(_read_within(stream, body_limit()))
