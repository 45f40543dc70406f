"""Shared API plumbing: the exception handler that gives every error the SPEC §4 envelope."""

import logging
import math
import sys
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.defaults import page_not_found
from rest_framework import exceptions as drf
from rest_framework.response import Response

from genvoris.errors import ApiError, ErrorCode

logger = logging.getLogger("genvoris.api")

UNAVAILABLE = ApiError(
    ErrorCode.UNAVAILABLE,
    "The service is temporarily unavailable. Retry with the same Idempotency-Key.",
    detail="The database could not be reached; nothing was recorded.",
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


def _translate(exc: Exception) -> ApiError | None:
    if isinstance(exc, ApiError):
        return exc
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
    if not request.path.startswith("/api/"):
        return page_not_found(request, exception or Http404())
    return error_response(ApiError(ErrorCode.NOT_FOUND, f"No endpoint at {request.path}."))


def server_error(request: HttpRequest) -> HttpResponse:
    """Django calls this inside its `except` block, so the exception is still at hand."""
    if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        return error_response(UNAVAILABLE)
    if not request.path.startswith("/api/"):
        return defaults.server_error(request)
    return error_response(ApiError(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side; it has been logged."))
