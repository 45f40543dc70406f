"""The track endpoint's HTTP layer: hands the raw request to the track service, renders its answer.

The serializers below document the wire format for the OpenAPI schema; the service validates the
body itself (tryon/services/report.py), held to the same verdicts by tryon/tests/test_report.py.
"""

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from genvoris.api import error_responses
from genvoris.errors import ApiError
from genvoris.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from genvoris.jsonbody import read_body
from genvoris.ratelimit import client_ip
from stores.auth import StoreKeyAuthentication
from tryon.metrics import track_answered, track_refused
from tryon.models import TryOnEvent
from tryon.services import TrackRequest, tryon_track
from tryon.services.idempotency import MAX_KEY_LENGTH
from tryon.services.report import WIDGET_SESSION_ID, WIDGET_SESSION_ID_RULE


class TrackInputSerializer(serializers.Serializer):
    # At most TRACK_MAX_BODY_BYTES (64 KB) in all; unknown keys are ignored.
    api_key = StrictCharField(required=False, max_length=200)
    product_type = serializers.ChoiceField(choices=TryOnEvent.ProductType.choices, default="apparel")
    variation_count = StrictIntegerField(min_value=1, max_value=16, default=1)
    generation_time_ms = StrictIntegerField(min_value=0, max_value=2_147_483_647, required=False, allow_null=True)
    success = StrictBooleanField(default=True)
    page_url = StrictCharField(required=False, allow_blank=True, max_length=2048, default="")
    product_title = StrictCharField(required=False, allow_blank=True, max_length=300, default="")
    origin = StrictCharField(required=False, allow_blank=True, max_length=2048, default="")
    end_customer_token = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=8192)
    widget_session_id = StrictCharField(
        required=False,
        allow_null=True,
        default=None,
        max_length=64,
        trim_whitespace=False,
        validators=[RegexValidator(WIDGET_SESSION_ID, WIDGET_SESSION_ID_RULE)],
        help_text="The widget's visit id (SPEC §16), as widget.js sent it; ties the try-on to the visit's orders.",
    )


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


class JsonOnly(BaseContentNegotiation):
    """The track endpoint answers JSON whatever the caller accepts: nothing to negotiate."""

    def select_parser(self, request: Request, parsers: Any) -> None:
        return None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class TrackView(APIView):
    """The HTTP side only: the request's raw parts in, the service's answer out (SPEC §3).

    It runs on every try-on, so DRF does as little as it can here: no parsers (the service reads
    the body within its size limit), no negotiation, and the answer is serialized straight to a
    JsonResponse instead of through a renderer (errors still go through the one handler).
    """

    parser_classes: list[Any] = []
    authentication_classes = [InternalSecretAuthentication, StoreKeyAuthentication]
    content_negotiation_class = JsonOnly

    def perform_authentication(self, request: Request) -> None:
        """Step 1 is the service's, after the body's size is known to be within the limit."""

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
                {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                OpenApiParameter.HEADER,
                description="1 to 255 chars, kept 24 h per store. A replay answers the first response with "
                "`Idempotent-Replayed: true`.",
            )
        ],
        responses={200: TrackOut, **error_responses(400, 402, 403, 409, 413, 422, 429)},
    )
    def post(self, request: Request) -> JsonResponse:
        try:
            answer = tryon_track(request=track_request(request), now=timezone.now())
        except ApiError as refused:
            track_refused(refused)
            raise
        track_answered(answer)  # after the commit: a rolled back try-on is not counted
        response = JsonResponse(answer.body, status=answer.status)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


def track_request(request: Request) -> TrackRequest:
    headers = request.headers
    return TrackRequest(
        read_body=lambda: read_body(request, settings.TRACK_MAX_BODY_BYTES),
        internal_secret=headers.get("x-internal-secret"),
        authorization=headers.get("Authorization", ""),
        origin=headers.get("Origin"),
        idempotency_key=headers.get("Idempotency-Key"),
        client_ip=client_ip(request),
    )
