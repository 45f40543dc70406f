"""The three doors to the status answer (SPEC §15; the decision is tryon/status.py):

- `GET /api/v1/status[?token=]` — a merchant's server with its secret key; adds the credit balance.
- `GET /status?api_key=…[&token=…]` (or `X-API-Key`) — the plugins' proxies, any key kind, never
  the balance.
- `POST /api/tryon/status`, form fields `api_key` and `end_customer_token` — the widget's preflight
  through the reference backend, a simple CORS request like its generate call, never the balance.

Every answer carries `access` and `message`, errors included (401/403 → LOCKED, anything else →
ERROR), so a consumer can render any answer from those two. A 200 may be kept 10 s by the caller
(`Cache-Control: private, max-age=10`), as the server keeps it; errors are `no-store`. A database
outage is `503 unavailable` with `access: ERROR` and `Retry-After`.
"""

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genvoris import ratelimit
from genvoris.api import error_responses
from genvoris.errors import ApiError, ErrorCode, invalid_field
from genvoris.jsonbody import BoundedJSONParser, read_body
from genvoris.ratelimit import check_auth_failures, client_ip, record_auth_failure
from stores.auth import StoreKeyAuthentication
from stores.models import ApiKey
from stores.selectors import api_key_by_plaintext
from stores.services import api_key_mark_used
from tryon.backend import with_cors
from tryon.status import (
    CACHE_SECONDS,
    MAX_KEY_LENGTH,
    MAX_TOKEN_LENGTH,
    Access,
    Status,
    status_cached,
    status_decide,
    status_remember,
)

logger = logging.getLogger("genvoris.tryon.status")

# Two short fields; anything larger is no status request.
MAX_FORM_BYTES = 16 * 1024
CACHEABLE = f"private, max-age={CACHE_SECONDS}"


def status_unavailable() -> ApiError:
    return ApiError(
        ErrorCode.UNAVAILABLE,
        "The try-on status cannot be read right now. Please try again in a moment.",
        detail="The database could not be reached; the status is unknown. Retry after Retry-After seconds.",
        headers={"Retry-After": "1"},
    )


def error_access(status_code: int) -> Access:
    """Credentials and permission refused: nothing will run until someone fixes them. The rest
    (a bad request, a rate limit, an outage) may pass on another try."""
    return Access.LOCKED if status_code in (401, 403) else Access.ERROR


# --- the wire format, for the OpenAPI document ---------------------------------------------------


class QuotaStatusOut(serializers.Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    resetsAt = serializers.CharField(help_text="When the period ends: ISO 8601 UTC with milliseconds and Z.")


class CreditsStatusOut(serializers.Serializer):
    remaining = serializers.IntegerField()
    lowBalance = serializers.BooleanField(help_text="Below the store's low-balance threshold.")


class StatusOut(serializers.Serializer):
    access = serializers.ChoiceField(choices=[a.value for a in Access if a != Access.ERROR])
    reason = serializers.ChoiceField(
        choices=[
            "key_revoked",
            "store_suspended",
            "domain_not_allowed",
            "paused",
            "cancelled",
            "no_plan",
            "quota_exhausted",
            "credits_exhausted",
        ],
        allow_null=True,
        help_text="Why it is not ALLOWED; null when it is.",
    )
    message = serializers.CharField(help_text="A sentence a person can read.")
    plan = serializers.CharField(allow_null=True, help_text="The shopper's plan name (with a token).")
    externalId = serializers.CharField(allow_null=True, help_text="The shopper's externalId (with a token).")
    quota = QuotaStatusOut(required=False, help_text="The shopper's current period; only with a session token.")


class SecretStatusOut(StatusOut):
    credits = CreditsStatusOut(required=False, help_text="The store's balance (not for a revoked key).")


_STATUS_ERRORS = (
    "Every error also carries `access` (LOCKED for 401/403, else ERROR). 401 invalid_key for an unknown "
    "key, invalid_session_token for a token that fails verification, is revoked or names no customer "
    "of the store; 403 token_store_mismatch for a token of another store."
)


def _token_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, {"type": "string", "maxLength": MAX_TOKEN_LENGTH}, description=description)


# --- the views -----------------------------------------------------------------------------------


class _StatusView(APIView):
    permission_classes: list[Any] = []

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, (OperationalError, InterfaceError)):
            logger.warning("database unavailable for a status answer: %s", exc)
            exc = status_unavailable()
        response = super().handle_exception(exc)
        if isinstance(response.data, dict) and "error" in response.data:
            response.data = {**response.data, "access": error_access(response.status_code)}
        response["Cache-Control"] = "no-store"
        return response


def _answer(body: dict[str, Any], vary: list[str]) -> Response:
    response = Response(body)
    response["Cache-Control"] = CACHEABLE
    patch_vary_headers(response, vary)
    return response


def _text(value: Any, field: str, limit: int) -> str | None:
    """A field's text (the last one sent), bounded; empty is absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise invalid_field(field, f"Must be text of at most {limit} characters.")
    return value


class StatusKeyAuthentication(StoreKeyAuthentication):
    """A secret key, also when it is revoked or its store suspended: the status then answers
    LOCKED instead of refusing, which is what a merchant's server asks it to tell."""

    def authenticate(self, request: Request) -> tuple[None, ApiKey]:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise ApiError(
                ErrorCode.UNAUTHORIZED,
                "Authenticate with Authorization: Bearer <secret store key>.",
                detail="The Authorization header is missing or is not a Bearer credential.",
            )
        key = api_key_by_plaintext(credential.strip())
        if key is None:
            raise ApiError(ErrorCode.INVALID_KEY, "The API key is not valid.", detail="No key matches this credential.")
        if key.kind != ApiKey.Kind.SECRET:
            raise ApiError(
                ErrorCode.INSUFFICIENT_SCOPE,
                "Publishable keys cannot use the REST API; use a secret key (gvk_live_…), or GET /status.",
            )
        if key.is_usable:
            api_key_mark_used(key=key, now=timezone.now())
        return None, key


class StoreStatusView(_StatusView):
    """GET /api/v1/status: the status for the merchant's own server, with the credit balance."""

    authentication_classes = [StatusKeyAuthentication]

    @extend_schema(
        operation_id="status_retrieve",
        # The storeKey scheme of every /api/v1 call: the same credential, let through when revoked.
        auth=[{"storeKey": []}],  # type: ignore[list-item]
        summary="May a try-on run now? The store's status, and the shopper's with a token",
        description="One answer for what to render (SPEC §15), plus the store's credit balance. "
        "A revoked key or a suspended store answers 200 LOCKED. Answers may be up to 10 s old. " + _STATUS_ERRORS,
        parameters=[
            _token_parameter("token", "A shopper's session token: adds the shopper's quota, plan and externalId."),
            _token_parameter("end_customer_token", "Alias of token."),
        ],
        responses={200: SecretStatusOut, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        key: ApiKey = request.auth  # type: ignore[assignment]
        token = _text(request.query_params.get("token"), "token", MAX_TOKEN_LENGTH) or _text(
            request.query_params.get("end_customer_token"), "end_customer_token", MAX_TOKEN_LENGTH
        )
        key_text = request.headers["Authorization"].partition(" ")[2].strip()
        status = status_cached(key_text, token)
        if status is None:
            status = status_decide(key=key, token=token, now=timezone.now())
            status_remember(key_text, token, status)
        return _answer(status.body(with_credits=True), ["Authorization"])


class _PublicStatusView(_StatusView):
    """Anyone may ask with a store's key: bounded work per address, never the balance."""

    authentication_classes: list[Any] = []
    cors_methods = ""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        with_cors(request, response)  # headers set in place on the same response
        return super().finalize_response(request, response, *args, **kwargs)

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        response = Response(status=204)
        response["Access-Control-Allow-Methods"] = self.cors_methods
        response["Access-Control-Allow-Headers"] = "Content-Type, Accept, Accept-Language, X-API-Key, X-Request-Id"
        response["Access-Control-Max-Age"] = "7200"
        return response

    def public_status(self, request: Request, key_text: str | None, token: str | None) -> Response:
        if key_text is None:
            raise ApiError(ErrorCode.INVALID_KEY, "An api_key is required.", detail="Send the store's api_key.")
        status = status_cached(key_text, token)
        if status is None:
            status = _read_status(request, key_text, token)
            status_remember(key_text, token, status)
        body = status.for_origin(request.headers.get("Origin")).body(with_credits=False)
        return _answer(body, ["X-API-Key"])


def _read_status(request: Request, key_text: str, token: str | None) -> Status:
    """A cache miss: the database is read, within a budget per address and key."""
    ip = client_ip(request)
    ratelimit.enforce(
        f"status:{ip}:{hashlib.sha256(key_text.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}",
        limit=settings.STATUS_PER_MINUTE,
        window_seconds=60,
        message="Too many status requests from this address. Retry after the number of seconds in Retry-After.",
    )
    key = api_key_by_plaintext(key_text)
    if key is None:
        # Counted against the address like every failed credential; a limited address is
        # refused only when its key fails too (SPEC §3).
        check_auth_failures(ip)
        record_auth_failure(ip)
        raise ApiError(ErrorCode.INVALID_KEY, "The API key is not valid.", detail="No such API key.")
    return status_decide(key=key, token=token, now=timezone.now())


class PublicStatusView(_PublicStatusView):
    """GET /status?api_key=…: for the plugins' server-side proxies (and browsers: CORS is open)."""

    cors_methods = "GET, OPTIONS"

    @extend_schema(
        operation_id="status_public",
        summary="The status for a store key of any kind, without the balance",
        description="What a plugin's proxy (or a page) asks before offering a try-on (SPEC §15). Any key "
        "kind; the credit balance is never part of this answer. With an Origin header, an origin outside "
        "the key's allowlist is LOCKED domain_not_allowed. Answers may be up to 10 s old. " + _STATUS_ERRORS,
        auth=[],
        parameters=[
            OpenApiParameter("api_key", {"type": "string", "maxLength": MAX_KEY_LENGTH}, description="The store key."),
            OpenApiParameter(
                "X-API-Key",
                {"type": "string", "maxLength": MAX_KEY_LENGTH},
                OpenApiParameter.HEADER,
                description="The store key, when api_key is not in the query.",
            ),
            _token_parameter("token", "A shopper's session token."),
            _token_parameter("end_customer_token", "Alias of token."),
        ],
        responses={200: StatusOut, **error_responses(400, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        key_text = _text(params.get("api_key"), "api_key", MAX_KEY_LENGTH) or _text(
            request.headers.get("X-API-Key"), "X-API-Key", MAX_KEY_LENGTH
        )
        token = _text(params.get("token"), "token", MAX_TOKEN_LENGTH) or _text(
            params.get("end_customer_token"), "end_customer_token", MAX_TOKEN_LENGTH
        )
        return self.public_status(request, key_text, token)


class WidgetStatusIn(serializers.Serializer):
    """What the widget's generate call sends, as form fields (a simple CORS request) or JSON."""

    api_key = serializers.CharField(max_length=MAX_KEY_LENGTH)
    end_customer_token = serializers.CharField(max_length=MAX_TOKEN_LENGTH, required=False, allow_blank=True)


class WidgetStatusView(_PublicStatusView):
    """POST /api/tryon/status: the widget's preflight, with the fields its generate call sends."""

    parser_classes = [FormParser, MultiPartParser, BoundedJSONParser]
    cors_methods = "POST, OPTIONS"

    @extend_schema(
        operation_id="tryon_status",
        summary="The reference backend's status for the widget, without the balance",
        description="The widget asks this before the shopper picks a photo (SPEC §18): form fields as "
        "its generate call sends them, a simple CORS request. Same answer as GET /status. " + _STATUS_ERRORS,
        auth=[],
        request={
            "application/x-www-form-urlencoded": WidgetStatusIn,
            "multipart/form-data": WidgetStatusIn,
            "application/json": WidgetStatusIn,
        },
        responses={200: StatusOut, **error_responses(400, 403, 413, 415, 429)},
    )
    def post(self, request: Request) -> Response:
        _bounded(request._request)
        data = request.data
        if not isinstance(data, dict):  # a QueryDict is one, and so is a JSON object
            raise ApiError(
                ErrorCode.INVALID_BODY,
                "The request body must be form fields or a JSON object.",
                fieldErrors={"body": ["Expected form fields api_key and end_customer_token."]},
            )
        key_text = _text(data.get("api_key"), "api_key", MAX_KEY_LENGTH)
        token = _text(data.get("end_customer_token"), "end_customer_token", MAX_TOKEN_LENGTH)
        return self.public_status(request, key_text, token)


def _bounded(request: HttpRequest) -> None:
    """The body, read within its limit (413 past it, chunked bodies too) before it is parsed."""
    read_body(request, MAX_FORM_BYTES)
