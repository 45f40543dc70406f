"""Shared API plumbing: the exception handler that gives every error the SPEC §4 envelope."""

import logging
import math
import sys
from typing import Any

from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.common import no_append_slash
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions as drf
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.mediatypes import media_type_matches

from genvoris.errors import ApiError, ErrorCode
from genvoris.jsonbody import body_limit, parse_json, read_body

logger = logging.getLogger("genvoris.api")
# Every path under these answers the JSON envelope, never an HTML page (SPEC §4).
JSON_PREFIXES = ("/api/", "/.well-known/")

UNAVAILABLE = ApiError(
    ErrorCode.UNAVAILABLE,
    "The service is temporarily unavailable. Retry with the same Idempotency-Key.",
    # Not "nothing was recorded": a COMMIT can succeed and its acknowledgement be lost. A retry
    # with the same Idempotency-Key answers what was recorded, or records it once.
    detail="The database could not be reached, so the outcome is unknown. A retry with the same "
    "Idempotency-Key returns the original answer if the request was recorded, and records it once if not.",
    headers={"Retry-After": "1"},
)


def error_response(error: ApiError) -> JsonResponse:
    response = JsonResponse(error.body(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested validation detail into `{"field.sub": ["message", …]}`."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = key if key != "non_field_errors" else "body"
            flat.update(field_errors(value, f"{prefix}.{name}" if prefix else str(name)))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(d, (dict, list)) for d in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(field_errors(item, f"{prefix}[{index}]"))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "body": [str(m) for m in messages]}


def invalid_body(errors: dict[str, list[str]]) -> ApiError:
    first_field, first_messages = next(iter(errors.items()))
    return ApiError(
        ErrorCode.INVALID_BODY,
        "The request body is invalid.",
        detail=f"{first_field}: {first_messages[0]}",
        fieldErrors=errors,
    )


def unstorable(exc: BaseException) -> bool:
    """Whether the database, or its driver before sending, refused a value it cannot hold.

    PostgreSQL raises DataError (NUL in text or JSON, an integer out of range, a string too long);
    psycopg2 a ValueError about NUL; every driver a UnicodeEncodeError for a lone surrogate; SQLite
    an OverflowError for an integer past 64 bits. Inputs are bounded before they get this far
    (genvoris.jsonbody, the selectors), so this is the net under them, not the check.
    """
    if isinstance(exc, DataError):
        return True
    if isinstance(exc, UnicodeEncodeError):
        return exc.reason == "surrogates not allowed"
    if isinstance(exc, OverflowError):
        return "SQLite INTEGER" in str(exc)
    return isinstance(exc, ValueError) and "NUL (0x00)" in str(exc)


UNSTORABLE = ApiError(
    ErrorCode.INVALID_BODY,
    "The request holds a value that cannot be stored.",
    detail="A value in the request is out of the range the database can hold, or text holds NUL "
    "characters or unpaired surrogates.",
    fieldErrors={"body": ["A value cannot be stored."]},
)


def _translate(exc: Exception) -> ApiError | None:
    if isinstance(exc, ApiError):
        return exc
    if unstorable(exc):
        # The request ends here; a transaction it had open was rolled back by its atomic block.
        logger.warning("refused a value the database cannot hold: %r", exc)
        return UNSTORABLE
    if isinstance(exc, drf.ValidationError):
        return invalid_body(field_errors(exc.detail))
    if isinstance(exc, drf.ParseError):
        return ApiError(ErrorCode.INVALID_BODY, "The request body is not valid JSON.", detail=str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the body as application/json.")
    if isinstance(exc, drf.NotAcceptable):
        return ApiError(ErrorCode.NOT_ACCEPTABLE, "This endpoint answers application/json only.")
    if isinstance(exc, drf.MethodNotAllowed):
        return ApiError(ErrorCode.METHOD_NOT_ALLOWED, str(exc.detail))
    if isinstance(exc, (drf.NotFound, Http404)):
        return ApiError(ErrorCode.NOT_FOUND, "No such object.")
    if isinstance(exc, drf.Throttled):
        wait = max(1, math.ceil(getattr(exc, "wait", None) or 1))
        return ApiError(
            ErrorCode.RATE_LIMITED,
            "Too many requests. Retry after the number of seconds in Retry-After.",
            headers={"Retry-After": str(wait)},
        )
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        return ApiError(ErrorCode.UNAUTHORIZED, "Authentication is required.", detail=str(exc.detail))
    if isinstance(exc, drf.PermissionDenied):
        return ApiError(ErrorCode.INSUFFICIENT_SCOPE, "This credential may not do that.", detail=str(exc.detail))
    if isinstance(exc, (OperationalError, InterfaceError)):
        return UNAVAILABLE
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    error = _translate(exc)
    if error is None:
        return None
    return Response(error.body(), status=error.status, headers=error.headers)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not request.path.startswith(JSON_PREFIXES):
        return page_not_found(request, exception or Http404())
    return no_endpoint(request)


@csrf_exempt  # a POST to a path that does not exist is a 404, not a CSRF page
@no_append_slash  # and never a redirect: `/api/v1/plans/` is not `/api/v1/plans`
def no_endpoint(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The last URL pattern under /api/ and /.well-known/: JSON 404 for every method."""
    return error_response(ApiError(ErrorCode.NOT_FOUND, f"No endpoint at {request.path}."))


def server_error(request: HttpRequest) -> HttpResponse:
    """Django calls this inside its `except` block, so the exception is still at hand."""
    exc = sys.exc_info()[1]
    if isinstance(exc, (OperationalError, InterfaceError)):
        return error_response(UNAVAILABLE)
    if not request.path.startswith(JSON_PREFIXES):
        return defaults.server_error(request)
    if exc is not None and unstorable(exc):
        return error_response(UNSTORABLE)
    return error_response(ApiError(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side; it has been logged."))


class ErrorOut(serializers.Serializer):
    """The envelope of every error (SPEC §4)."""

    error = serializers.ChoiceField(choices=[code.value for code in ErrorCode])
    message = serializers.CharField()
    detail = serializers.CharField()
    fieldErrors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)
    reason = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False)
    used = serializers.IntegerField(required=False)


_ERROR_DESCRIPTIONS = {
    400: "invalid_body (with fieldErrors) or metadata_too_large",
    401: "unauthorized (no or malformed Authorization), invalid_key (unknown or revoked key)",
    402: "credit_limit_reached, or end_customer_quota with reason, limit and used",
    403: "account_inactive, insufficient_scope (publishable key), plan_not_found, customer_inactive, "
    "domain_not_allowed or token_store_mismatch",
    404: "not_found: no such object in this store",
    409: "idempotency_conflict: the first request with this Idempotency-Key is still running",
    413: "payload_too_large",
    415: "unsupported_media_type: send application/json",
    422: "idempotency_key_reused: the Idempotency-Key was used with another body",
    429: "rate_limited, with Retry-After in seconds",
    503: "unavailable: the database could not be reached; retry",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI descriptions of the errors an operation can answer, all in the one envelope."""
    return {
        status: OpenApiResponse(ErrorOut, description=_ERROR_DESCRIPTIONS[status]) for status in (*statuses, 401, 503)
    }


def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, read and bounded by genvoris.jsonbody (chunked bodies too). An
    empty body is `{}`; anything but an object is 400. Server-to-server callers often omit the
    content type, so a body without one is read as JSON; one that names another type is 415."""
    raw = read_body(request._request, body_limit())
    if not raw.strip():
        return {}
    media_type = request.content_type
    if media_type and not any(media_type_matches(parser.media_type, media_type) for parser in request.parsers or ()):
        raise drf.UnsupportedMediaType(media_type)
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise ApiError(
            ErrorCode.INVALID_BODY,
            "The request body must be a JSON object.",
            fieldErrors={"body": ["Expected a JSON object."]},
        )
    return data


def validated(serializer_class: type[serializers.Serializer], data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data, **kwargs)
    if not serializer.is_valid():
        raise invalid_body(field_errors(serializer.errors))
    return dict(serializer.validated_data)
