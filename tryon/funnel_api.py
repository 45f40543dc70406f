"""The HTTP side of SPEC §16: funnel events, conversions and returns.

- `POST /api/v1/events` and its same-origin twin `POST /api/tryon/events` (the reference backend's
  proxy, where widget.js posts by default): a secret key as `Authorization: Bearer`, or a
  publishable key (`X-API-Key`, or `api_key` in the body, since `navigator.sendBeacon` cannot set
  headers) from an `Origin` on the key's allowlist. Bodies as `application/json` or `text/plain`
  (what sendBeacon sends: a CORS-simple request, no preflight).
- `POST /api/v1/conversions` and `POST /api/v1/returns`: a secret key, like every /api/v1 call.
"""

import hashlib
import json
import logging
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genvoris import ratelimit
from genvoris.api import error_responses, field_errors, invalid_body, json_object, validated
from genvoris.errors import ApiError, ErrorCode
from genvoris.fields import StrictCharField, StrictIntegerField
from genvoris.jsonbody import parse_json, read_body
from genvoris.ratelimit import check_auth_failures, client_ip, record_auth_failure
from stores.auth import StoreApiView, store_key_from_header
from stores.domains import domain_allowed, origin_host
from stores.models import ApiKey
from stores.selectors import api_key_by_plaintext
from stores.services import api_key_mark_used, api_key_refusal_count, store_suspended_error
from tryon.backend import with_cors
from tryon.models import Conversion, WidgetEvent
from tryon.services.funnel import (
    DEFAULT_WINDOW_MINUTES,
    MAX_EVENTS,
    MAX_WINDOW_MINUTES,
    FunnelEvent,
    Order,
    Refund,
    conversion_record,
    order_return_binding,
    order_return_record,
    widget_events_record,
)
from tryon.services.idempotency import MAX_KEY_LENGTH
from tryon.services.report import WIDGET_SESSION_ID, WIDGET_SESSION_ID_RULE

logger = logging.getLogger("genvoris.tryon.funnel")

# Fifty events at their largest fit with room to spare; a body past this is 413.
EVENTS_MAX_BODY_BYTES = 256 * 1024
METADATA_MAX_KEYS = 20
METADATA_MAX_KEY_LENGTH = 40
METADATA_MAX_BYTES = 2048
MAX_AMOUNT_CENTS = 100_000_000_000  # a billion in the currency's main unit: no order is larger
MAX_QUANTITY = 1_000_000
MAX_API_KEY_LENGTH = 200
CURRENCY = RegexValidator(r"\A[A-Z]{3}\Z", "Must be an ISO 4217 code: three capital letters, e.g. USD.")
NOT_BLANK = RegexValidator(r"\S", "This field may not be blank.")
_MEDIA_TYPES = {"", "application/json", "text/plain"}


# --- the wire format -----------------------------------------------------------------------------


def session_id_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(
        max_length=64,
        trim_whitespace=False,
        validators=[RegexValidator(WIDGET_SESSION_ID, WIDGET_SESSION_ID_RULE)],
        help_text="The widget's visit id (window.Genvoris.sessionId, cookie gv_sid).",
        **kwargs,
    )


METADATA_SCHEMA = {
    "type": "object",
    "maxProperties": METADATA_MAX_KEYS,
    "additionalProperties": {
        "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
        "nullable": True,
    },
    "description": f"Flat data of your own: at most {METADATA_MAX_KEYS} keys of 1 to "
    f"{METADATA_MAX_KEY_LENGTH} characters; values strings, numbers, booleans or null; at most "
    f"{METADATA_MAX_BYTES} bytes as compact JSON.",
}


@extend_schema_field(METADATA_SCHEMA)
class EventMetadataField(serializers.Field):
    default_error_messages = {
        "invalid": "Must be a JSON object.",
        "keys": f"At most {METADATA_MAX_KEYS} keys of 1 to {METADATA_MAX_KEY_LENGTH} characters.",
        "values": "Values must be strings, numbers, booleans or null.",
        "size": f"At most {METADATA_MAX_BYTES} bytes as compact JSON.",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.fail("invalid")
        if len(data) > METADATA_MAX_KEYS or not all(0 < len(k) <= METADATA_MAX_KEY_LENGTH for k in data):
            self.fail("keys")
        if not all(v is None or isinstance(v, (str, int, float, bool)) for v in data.values()):
            self.fail("values")
        if len(json.dumps(data, separators=(",", ":"))) > METADATA_MAX_BYTES:  # ASCII-escaped: bytes
            self.fail("size")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class EventIn(serializers.Serializer):
    sessionId = session_id_field()
    eventType = serializers.ChoiceField(choices=WidgetEvent.Type.values)
    productId = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    productTitle = StrictCharField(required=False, allow_blank=True, max_length=300, default="")
    pageUrl = StrictCharField(required=False, allow_blank=True, max_length=2048, default="")
    metadata = EventMetadataField(required=False, default=dict)


def _event_schema() -> dict[str, Any]:
    """One event of a batch, as the schema states it (EventIn is what checks it)."""
    text = {"type": "string"}
    return {
        "type": "object",
        "required": ["sessionId", "eventType"],
        "maxProperties": len(EventIn().fields),  # other keys are ignored, and need not be sent
        "properties": {
            "sessionId": {**text, "pattern": "^[A-Za-z0-9_-]{1,64}$", "maxLength": 64},
            "eventType": {**text, "enum": WidgetEvent.Type.values},
            "productId": {**text, "maxLength": 200},
            "productTitle": {**text, "maxLength": 300},
            "pageUrl": {**text, "maxLength": 2048},
            "metadata": METADATA_SCHEMA,
        },
    }


@extend_schema_field({"type": "array", "minItems": 1, "maxItems": MAX_EVENTS, "items": _event_schema()})
class EventBatchField(serializers.ListField):
    pass


class EventsIn(EventIn):
    """For the schema: one event at the top level, or a batch in `events` (then the top-level
    event fields are not read)."""

    sessionId = session_id_field(required=False)
    eventType = serializers.ChoiceField(choices=WidgetEvent.Type.values, required=False)
    events = EventBatchField(child=EventIn(), min_length=1, max_length=MAX_EVENTS, required=False)
    api_key = StrictCharField(
        max_length=MAX_API_KEY_LENGTH,
        required=False,
        help_text="A publishable key, for callers that cannot set X-API-Key (navigator.sendBeacon).",
    )


class EventsAcceptedOut(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="How many events were stored: all of the batch.")


class ConversionIn(serializers.Serializer):
    orderId = StrictCharField(max_length=200, validators=[NOT_BLANK])
    platform = serializers.ChoiceField(choices=Conversion.Platform.values)
    amountCents = StrictIntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS)
    currency = StrictCharField(required=False, default="USD", max_length=3, validators=[CURRENCY])
    quantity = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_QUANTITY)
    productId = StrictCharField(required=False, allow_blank=True, max_length=200, default="")
    productTitle = StrictCharField(required=False, allow_blank=True, max_length=300, default="")
    sessionId = session_id_field(required=False, allow_null=True)
    customerEmail = StrictCharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=254,
        help_text="Only its SHA-256 (trimmed, lower-cased) is kept, to match a shopper's try-ons.",
    )
    attributionWindowMinutes = StrictIntegerField(
        required=False, default=DEFAULT_WINDOW_MINUTES, min_value=1, max_value=MAX_WINDOW_MINUTES
    )


class ConversionOut(serializers.Serializer):
    id = serializers.CharField()
    attributedFromTryOn = serializers.BooleanField(help_text="Hard (same visit) or soft (same shopper) attribution.")
    deduped = serializers.BooleanField(help_text="True when this order was reported before: nothing was stored.")


class ReturnIn(serializers.Serializer):
    orderId = StrictCharField(max_length=200, validators=[NOT_BLANK])
    platform = serializers.ChoiceField(choices=Conversion.Platform.values)
    refundedAmountCents = StrictIntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS)
    currency = StrictCharField(required=False, default="USD", max_length=3, validators=[CURRENCY])
    reason = StrictCharField(required=False, allow_blank=True, max_length=500, default="")


class ReturnOut(serializers.Serializer):
    id = serializers.CharField()
    conversionEventId = serializers.CharField(allow_null=True, help_text="The order's conversion, if it was reported.")


# --- events --------------------------------------------------------------------------------------


def events_body(request: Request) -> dict[str, Any]:
    """The JSON object, sent as application/json or text/plain (sendBeacon), within its limit."""
    if request._request.content_type not in _MEDIA_TYPES:
        raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the events as application/json or text/plain JSON.")
    raw = read_body(request._request, EVENTS_MAX_BODY_BYTES)
    body = parse_json(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ApiError(
            ErrorCode.INVALID_BODY,
            "The request body must be a JSON object.",
            fieldErrors={"body": ['Expected one event, or {"events": [...]}.']},
        )
    return body


def funnel_events(body: dict[str, Any]) -> list[FunnelEvent]:
    """One event, or a batch of 1 to 50; a bad event fails the batch, its fields named by index."""
    if "events" not in body:
        return [_event(_validated_event(body, prefix=""))]
    batch = body["events"]
    if not isinstance(batch, list) or not 1 <= len(batch) <= MAX_EVENTS:
        raise invalid_body({"events": [f"Must be a list of 1 to {MAX_EVENTS} events."]})
    errors: dict[str, list[str]] = {}
    events = []
    for index, item in enumerate(batch):
        try:
            events.append(_event(_validated_event(item, prefix=f"events[{index}]")))
        except ApiError as refused:
            errors.update(refused.extra["fieldErrors"])
    if errors:
        raise invalid_body(errors)
    return events


def _validated_event(item: Any, *, prefix: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise invalid_body({prefix: ["Must be an event object."]})
    serializer = EventIn(data=item)
    if not serializer.is_valid():
        raise invalid_body(field_errors(serializer.errors, prefix))
    return dict(serializer.validated_data)


def _event(data: dict[str, Any]) -> FunnelEvent:
    return FunnelEvent(
        session_id=data["sessionId"],
        event_type=data["eventType"],
        product_id=data["productId"],
        product_title=data["productTitle"],
        page_url=data["pageUrl"],
        metadata=data["metadata"],
    )


def events_caller(request: Request, body: dict[str, Any]) -> ApiKey:
    """A secret key as Bearer; else a publishable key from an Origin on its allowlist. Requests are
    counted per (address, key) before the key is looked up; failed keys count against the address."""
    ip = client_ip(request)
    authorization = request.headers.get("Authorization", "")
    if authorization:
        _limit(ip, authorization)
        return _secret_key(authorization, ip)
    key_text = request.headers.get("X-API-Key") or body.get("api_key")
    if not isinstance(key_text, str) or not key_text.strip() or len(key_text) > MAX_API_KEY_LENGTH:
        raise ApiError(
            ErrorCode.UNAUTHORIZED,
            "Authenticate with Authorization: Bearer <secret key>, or a publishable key in X-API-Key or api_key.",
        )
    _limit(ip, key_text)
    return _publishable_key(key_text.strip(), ip, request.headers.get("Origin"))


def _limit(ip: str, credential: str) -> None:
    digest = hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    ratelimit.enforce(
        f"events:{ip}:{digest}",
        limit=settings.EVENTS_PER_MINUTE,
        window_seconds=60,
        message="Too many event batches from this address. Retry after the number of seconds in Retry-After.",
    )


def _secret_key(authorization: str, ip: str) -> ApiKey:
    try:
        key = store_key_from_header(authorization)
    except ApiError as refused:
        if refused.code in (ErrorCode.UNAUTHORIZED, ErrorCode.INVALID_KEY):
            _failed_credential(ip)
        raise
    api_key_mark_used(key=key, now=timezone.now())
    return key


def _failed_credential(ip: str) -> None:
    """Counted against the address; past the limit a failing credential is answered 429 (SPEC §3)."""
    check_auth_failures(ip)
    record_auth_failure(ip)


def _publishable_key(text: str, ip: str, origin: str | None) -> ApiKey:
    key = api_key_by_plaintext(text)
    if key is None or not key.is_usable:
        _failed_credential(ip)
        raise ApiError(ErrorCode.INVALID_KEY, "The API key is not valid.", detail="No active key matches it.")
    if key.kind != ApiKey.Kind.PUBLISHABLE:
        # A secret key must not travel in a page: only as a server's Authorization header.
        raise ApiError(
            ErrorCode.INSUFFICIENT_SCOPE,
            "Send a secret key as Authorization: Bearer, never in X-API-Key or the body.",
        )
    if not key.store.is_active:
        raise store_suspended_error(key.store)
    if not origin or not domain_allowed(key.allowed_domains, origin):
        # Counted for the merchant to see, as at track; the allowlist itself is never told.
        host = (origin_host(origin) or "")[:253]
        api_key_refusal_count(key=key, cause=str(ErrorCode.DOMAIN_NOT_ALLOWED), origin_host=host, now=timezone.now())
        raise ApiError(
            ErrorCode.DOMAIN_NOT_ALLOWED,
            "A publishable key reports events only from a page on the key's allowed domains.",
            detail=f"The Origin {'sent' if origin else '(none sent)'} is not allowed for key {key.prefix}….",
        )
    api_key_mark_used(key=key, now=timezone.now())
    return key


_EVENTS_DESCRIPTION = (
    'One event, or `{"events": [...]}` with 1 to 50; a bad event fails the whole batch (400, fieldErrors '
    "named `events[i].field`) and nothing is stored. Authenticate with `Authorization: Bearer <secret key>`, "
    "or a publishable key in `X-API-Key` (or `api_key` in the body) from a page whose Origin is on the "
    "key's allowlist. The body may be sent as `text/plain` (navigator.sendBeacon). Limited per address and "
    "key (EVENTS_PER_MINUTE)."
)


class _EventsView(APIView):
    authentication_classes: list[Any] = []  # the key may be in the body: see events_caller
    parser_classes: list[Any] = []  # the body is read once, within its own limit

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        with_cors(request, response)  # the Origin is checked against the key, not by CORS
        return super().finalize_response(request, response, *args, **kwargs)

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Any:  # a bare 204 preflight
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type, Accept, X-API-Key, X-Request-Id"
        response["Access-Control-Max-Age"] = "7200"
        return response

    def post(self, request: Request) -> Response:
        body = events_body(request)
        key = events_caller(request, body)
        events = funnel_events(body)
        accepted = widget_events_record(store=key.store, events=events, now=timezone.now())
        return Response({"accepted": accepted}, status=202)


_EVENTS_SCHEMA: dict[str, Any] = {
    "request": {"application/json": EventsIn},
    "parameters": [
        OpenApiParameter(
            "X-API-Key",
            {"type": "string", "maxLength": MAX_API_KEY_LENGTH},
            OpenApiParameter.HEADER,
            description="A publishable key (with an allowed Origin), when there is no Authorization header.",
        )
    ],
    "responses": {202: EventsAcceptedOut, **error_responses(400, 403, 413, 415, 429)},
    "auth": [{"storeKey": []}, {}],
}


class EventsView(_EventsView):
    """POST /api/v1/events (SPEC §14, §16)."""

    @extend_schema(
        operation_id="events_create", summary="Report funnel events", description=_EVENTS_DESCRIPTION, **_EVENTS_SCHEMA
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


class WidgetEventsView(_EventsView):
    """POST /api/tryon/events: the reference backend's same-origin path for widget.js."""

    @extend_schema(
        operation_id="tryon_events_create",
        summary="Report funnel events through the reference backend",
        description="The same as POST /api/v1/events, on the backend's own origin. " + _EVENTS_DESCRIPTION,
        **_EVENTS_SCHEMA,
    )
    def post(self, request: Request) -> Response:
        return super().post(request)


# --- conversions and returns ---------------------------------------------------------------------


def order_of(data: dict[str, Any]) -> Order:
    return Order(
        platform=data["platform"],
        order_id=data["orderId"],
        amount_cents=data["amountCents"],
        currency=data["currency"],
        quantity=data.get("quantity"),
        product_id=data["productId"],
        product_title=data["productTitle"],
        session_id=data.get("sessionId") or "",
        customer_email=data.get("customerEmail") or "",
        window_minutes=data["attributionWindowMinutes"],
    )


class ConversionView(StoreApiView):
    @extend_schema(
        operation_id="conversions_create",
        summary="Report an order, attributed to try-on when it can be",
        description="Deduplicated on (platform, orderId): a repeat answers 200 with `deduped: true` and the "
        "first report's figures, and stores nothing. Hard attribution: `sessionId` is a widget visit with a "
        "charged try-on before the order. Soft: `customerEmail` is a shopper's of this store who had one "
        "within `attributionWindowMinutes`. The email itself is never stored.",
        request=ConversionIn,
        responses={200: ConversionOut, 201: ConversionOut, **error_responses(400, 403)},
    )
    def post(self, request: Request) -> Response:
        order = order_of(validated(ConversionIn, json_object(request)))
        result = conversion_record(store=self.store, order=order, now=timezone.now())
        conversion = result.conversion
        body = {"id": conversion.public_id, "attributedFromTryOn": conversion.attributed, "deduped": result.deduped}
        return Response(body, status=200 if result.deduped else 201)


class ReturnView(StoreApiView):
    @extend_schema(
        operation_id="returns_create",
        summary="Report a refund of an order",
        description="Each call records one refund (an order may be refunded in parts), linked to the "
        "conversion of the same (platform, orderId) if one was reported. Send an `Idempotency-Key` to make "
        "retries safe: a repeat answers the first response with `Idempotent-Replayed: true`.",
        request=ReturnIn,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                OpenApiParameter.HEADER,
                description="1 to 255 chars, kept 24 h per store.",
            )
        ],
        responses={201: ReturnOut, **error_responses(400, 403, 409, 422)},
    )
    def post(self, request: Request) -> Response:
        body = json_object(request)
        data = validated(ReturnIn, body)
        binding = order_return_binding(store=self.store, key=request.headers.get("Idempotency-Key"), body=body)
        refund = Refund(
            platform=data["platform"],
            order_id=data["orderId"],
            refunded_amount_cents=data["refundedAmountCents"],
            currency=data["currency"],
            reason=data["reason"],
        )
        answer = order_return_record(store=self.store, refund=refund, binding=binding, now=timezone.now())
        response = Response(answer.body, status=answer.status)
        if answer.replayed:
            response["Idempotent-Replayed"] = "true"
        return response
