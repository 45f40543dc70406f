"""The track endpoint's HTTP layer: caller authentication, body limits and parsing, idempotency."""

import hmac
import json
from typing import Any

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genvoris.api import error_responses, field_errors, invalid_body
from genvoris.errors import ApiError, ErrorCode
from genvoris.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from genvoris.ratelimit import check_auth_failures, client_ip, record_auth_failure
from stores.auth import StoreKeyAuthentication
from stores.models import ApiKey
from stores.selectors import api_key_by_plaintext
from tryon.idempotency import Answer, idempotent, request_hash, validate_key
from tryon.models import TryOnEvent
from tryon.services import TrackInput, tryon_track


class TrackInputSerializer(serializers.Serializer):
    api_key = StrictCharField(required=False, max_length=200)
    product_type = serializers.ChoiceField(choices=TryOnEvent.ProductType.choices, default="apparel")
    variation_count = StrictIntegerField(min_value=1, max_value=16, default=1)
    generation_time_ms = StrictIntegerField(min_value=0, max_value=2_147_483_647, required=False, allow_null=True)
    success = StrictBooleanField(default=True)
    page_url = StrictCharField(required=False, allow_blank=True, max_length=2048, default="")
    product_title = StrictCharField(required=False, allow_blank=True, max_length=300, default="")
    origin = StrictCharField(required=False, allow_blank=True, max_length=2048, default="")
    end_customer_token = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=8192)


class QuotaOut(serializers.Serializer):
    used = serializers.IntegerField(help_text="After this try-on.")
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()


class TrackOut(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always true on a 200: the try-on was accounted for.")
    remaining_credits = serializers.IntegerField()
    variation_count = serializers.IntegerField()
    end_customer_quota = QuotaOut(required=False, help_text="Only when an end_customer_token was sent.")


class InternalSecretScheme(OpenApiAuthenticationExtension):
    target_class = "tryon.api.InternalSecretAuthentication"
    name = "internalSecret"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "header", "name": "x-internal-secret"}


class InternalSecretAuthentication(BaseAuthentication):
    """Documents the x-internal-secret credential; the view itself checks it (step 1)."""

    def authenticate(self, request: Request) -> None:
        return None


class TrackView(APIView):
    parser_classes: list[Any] = []  # the body is read by hand: size limit first, then JSON
    authentication_classes = [InternalSecretAuthentication, StoreKeyAuthentication]

    def perform_authentication(self, request: Request) -> None:
        """Step 1 runs in `post`, after the failed-authentication limit is checked."""

    @extend_schema(
        operation_id="tryon_track",
        summary="Report a try-on: debit one credit (and one shopper try-on with a token)",
        description="Server to server, from your try-on backend. Authenticate with `x-internal-secret` (the "
        "store key then comes in `api_key`) or `Authorization: Bearer <secret store key>`. Checks run in a "
        "fixed order and the first failure answers; a 402 is recorded as blocked demand and debits nothing. "
        "`success: false` records a failed try-on and debits nothing. Send an `Idempotency-Key` (one per "
        "generation) so a retry can never charge twice.",
        request={"application/json": TrackInputSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="≤ 255 chars, kept 24 h per store. A replay answers the first response with "
                "`Idempotent-Replayed: true`.",
            )
        ],
        responses={200: TrackOut, **error_responses(400, 402, 403, 409, 413, 422, 429)},
    )
    def post(self, request: Request) -> Response:
        ip = client_ip(request)
        check_auth_failures(ip)
        try:
            bearer = authenticate_caller(request)  # step 1
            body = parse_body(request)
            body_key, data = track_input(body)
            key = resolve_key(bearer, body_key)  # step 2
        except ApiError as error:
            if error.code in (ErrorCode.UNAUTHORIZED, ErrorCode.INVALID_KEY):
                record_auth_failure(ip)
            raise
        now = timezone.now()

        def run() -> Answer:
            result = tryon_track(key=key, data=data, origin_header=request.headers.get("Origin"), now=now)
            return Answer(200, result.body())

        idempotency_key = request.headers.get("Idempotency-Key")
        if idempotency_key is None:
            answer = run()
        else:
            answer = idempotent(
                store=key.store, key=validate_key(idempotency_key), fingerprint=request_hash(body), now=now, run=run
            )
        response = Response(answer.body, status=answer.status)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def authenticate_caller(request: Request) -> str | None:
    """Step 1. The internal secret (→ None: the key comes from the body) or a Bearer store key."""
    secret = request.headers.get("x-internal-secret")
    if secret is not None:
        if not _internal_secret_ok(secret):
            raise ApiError(ErrorCode.UNAUTHORIZED, "The x-internal-secret header is not valid.")
        return None
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    raise ApiError(
        ErrorCode.UNAUTHORIZED,
        "Authenticate with an x-internal-secret header or an Authorization: Bearer secret store key.",
    )


def _internal_secret_ok(secret: str) -> bool:
    # Compare with every configured secret, without stopping early, in constant time each.
    matches = [hmac.compare_digest(secret.encode(), s.encode()) for s in settings.TRYON_INTERNAL_SECRET]
    return any(matches)


def parse_body(request: Request) -> dict[str, Any]:
    limit = settings.TRACK_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > limit:
        raise _too_large(limit)
    raw = request.body
    if len(raw) > limit:
        raise _too_large(limit)
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            ErrorCode.INVALID_BODY, "The request body is not valid JSON.", fieldErrors={"body": ["Invalid JSON."]}
        ) from None
    if not isinstance(body, dict):
        raise ApiError(
            ErrorCode.INVALID_BODY,
            "The request body must be a JSON object.",
            fieldErrors={"body": ["Expected a JSON object."]},
        )
    return body


def _too_large(limit: int) -> ApiError:
    return ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"The request body is larger than {limit // 1024} KB.")


def resolve_key(bearer: str | None, body_key: str | None) -> ApiKey:
    """Step 2: the key exists, is active and has a known prefix."""
    if bearer is not None and body_key not in (None, "", bearer):
        raise ApiError(ErrorCode.INVALID_KEY, "The api_key in the body is not the key in the Authorization header.")
    text = bearer if bearer is not None else body_key
    if not text:
        raise ApiError(
            ErrorCode.INVALID_KEY,
            "An api_key is required.",
            detail="With x-internal-secret, the body must carry the store's api_key.",
        )
    key = api_key_by_plaintext(text)
    if key is None or not key.is_usable:
        raise ApiError(ErrorCode.INVALID_KEY, "The API key is not valid.", detail=_key_problem(key))
    if bearer is not None and key.kind != ApiKey.Kind.SECRET:
        raise ApiError(
            ErrorCode.INSUFFICIENT_SCOPE,
            "A publishable key cannot authenticate a server; use a secret key (gvk_live_…).",
        )
    return key


def _key_problem(key: ApiKey | None) -> str:
    if key is None:
        return "No such API key."
    if key.locked_at is not None:
        return "This API key was locked after repeated refusals; re-enable it in the portal."
    return "This API key has been revoked."


def track_input(body: dict[str, Any]) -> tuple[str | None, TrackInput]:
    """The body's api_key (for step 2) and the validated try-on report."""
    serializer = TrackInputSerializer(data=body)
    if not serializer.is_valid():
        raise invalid_body(field_errors(serializer.errors))
    values = serializer.validated_data
    return values.get("api_key"), TrackInput(
        product_type=values["product_type"],
        variation_count=values["variation_count"],
        generation_time_ms=values.get("generation_time_ms"),
        success=values["success"],
        page_url=values["page_url"],
        product_title=values["product_title"],
        origin=values["origin"],
        end_customer_token=values.get("end_customer_token") or None,
    )
