"""/api/v1/webhooks (SPEC §6, §7): a store's endpoints, their test pings and delivery logs."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from genvoris.api import error_responses, json_object, validated
from genvoris.errors import ApiError, ErrorCode, invalid_field
from genvoris.ids import is_public_id, public_id_pattern
from genvoris.pagination import cursor_decode, cursor_encode, page_limit, page_parameters
from stores.auth import StoreApiView
from stores.webhooks import serializers as s
from stores.webhooks.catalogue import SUBSCRIBABLE, TEST
from stores.webhooks.models import WebhookDelivery, WebhookEndpoint
from stores.webhooks.selectors import attempts_of, deliveries_of, delivery_of, webhook_endpoint_of, webhook_endpoints_of
from stores.webhooks.services import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_secret_rotate,
    webhook_test_send,
)
from stores.webhooks.worker import envelope_json

PAGE_LIMIT_MAX, PAGE_LIMIT_DEFAULT = 100, 25
CURSOR_PATTERN = "d2hkX[A-Za-z0-9_-]{35}"

ENDPOINT_ID = OpenApiParameter(
    "endpoint_id",
    {"type": "string", "pattern": f"^{public_id_pattern(WebhookEndpoint.ID_PREFIX)}$"},
    OpenApiParameter.PATH,
    description="The endpoint's `whe_` id; any other text is 404.",
)
DELIVERY_ID = OpenApiParameter(
    "delivery_id",
    {"type": "string", "pattern": f"^{public_id_pattern(WebhookDelivery.ID_PREFIX)}$"},
    OpenApiParameter.PATH,
    description="The delivery's `whd_` id (the X-Genvoris-Delivery header); any other text is 404.",
)


def _not_found(what: str) -> ApiError:
    return ApiError(ErrorCode.NOT_FOUND, f"No such {what}.")


def _endpoint(view: StoreApiView, endpoint_id: str) -> WebhookEndpoint:
    """The store's endpoint; another store's is indistinguishable from none."""
    endpoint = webhook_endpoint_of(view.store, endpoint_id) if is_public_id(endpoint_id) else None
    if endpoint is None:
        raise _not_found("webhook endpoint")
    return endpoint


def _delivery(endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    delivery = delivery_of(endpoint, delivery_id) if is_public_id(delivery_id) else None
    if delivery is None:
        raise _not_found("delivery")
    return delivery


class WebhookListView(StoreApiView):
    @extend_schema(operation_id="webhooks_list", responses={200: s.EndpointListOut, **error_responses(403)})
    def get(self, request: Request) -> Response:
        return Response({"data": [s.endpoint_json(e) for e in webhook_endpoints_of(self.store)]})

    @extend_schema(
        operation_id="webhooks_create",
        request=s.EndpointIn,
        responses={201: s.EndpointCreatedOut, **error_responses(400, 403)},
        description="The answer holds the signing secret: store it, it is never shown again. Deliveries carry "
        '`X-Genvoris-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "t.body")>`.',
    )
    def post(self, request: Request) -> Response:
        data = validated(s.EndpointIn, json_object(request))
        endpoint, secret = webhook_endpoint_create(
            store=self.store,
            url=data["url"],
            events=data.get("events"),
            description=data.get("description", ""),
            secret=data.get("secret"),
            actor=self.actor,
        )
        return Response({**s.endpoint_json(endpoint), "secret": secret}, status=201)


class WebhookDetailView(StoreApiView):
    @extend_schema(
        operation_id="webhooks_retrieve",
        parameters=[ENDPOINT_ID],
        responses={200: s.EndpointOut, **error_responses(403, 404)},
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(s.endpoint_json(_endpoint(self, endpoint_id)))

    @extend_schema(
        operation_id="webhooks_update",
        parameters=[ENDPOINT_ID],
        request=s.EndpointPatchIn,
        responses={200: s.EndpointOut, **error_responses(400, 403, 404)},
        description="active false holds new deliveries (they are sent once it is true again).",
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(self, endpoint_id)
        data = validated(s.EndpointPatchIn, json_object(request))
        endpoint = webhook_endpoint_update(
            endpoint=endpoint,
            actor=self.actor,
            url=data.get("url"),
            events=data.get("events"),
            description=data.get("description"),
            active=data.get("active"),
        )
        return Response(s.endpoint_json(endpoint))

    @extend_schema(
        operation_id="webhooks_destroy",
        parameters=[ENDPOINT_ID],
        responses={204: None, **error_responses(403, 404)},
        description="Deletes the endpoint with its delivery log; what it had not received yet is not sent.",
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        webhook_endpoint_delete(endpoint=_endpoint(self, endpoint_id), actor=self.actor)
        return Response(status=204)


class WebhookTestView(StoreApiView):
    @extend_schema(
        operation_id="webhooks_test",
        parameters=[ENDPOINT_ID],
        request=None,
        responses={200: s.TestOut, **error_responses(403, 404, 429)},
        description="Sends a signed `webhook.test` event to this endpoint now and answers what came back. A "
        "failed ping is retried like any delivery. At most 6 a minute per endpoint.",
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        delivery, response = webhook_test_send(endpoint=_endpoint(self, endpoint_id))
        return Response(
            {
                "delivery": s.delivery_json(delivery),
                "response": {
                    "ok": response.ok,
                    "statusCode": response.status_code,
                    "latencyMs": response.latency_ms,
                    "error": response.error,
                    "responseExcerpt": response.excerpt,
                },
            }
        )


class WebhookRotateView(StoreApiView):
    @extend_schema(
        operation_id="webhooks_rotate_secret",
        parameters=[ENDPOINT_ID],
        request=None,
        responses={200: s.SecretOut, **error_responses(403, 404)},
        description="A new signing secret, returned once. For 24 hours deliveries carry two v1 signatures, "
        "one with each secret, so your receiver can switch without missing one.",
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(self, endpoint_id)
        secret = webhook_secret_rotate(endpoint=endpoint, actor=self.actor)
        endpoint.refresh_from_db()
        return Response(
            s.SecretOut({"secret": secret, "previousSecretExpiresAt": endpoint.previous_secret_expires_at}).data
        )


def _choice(request: Request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise invalid_field(name, f"Must be one of: {', '.join(choices)}.")
    return value


class WebhookDeliveryListView(StoreApiView):
    @extend_schema(
        operation_id="webhooks_deliveries_list",
        parameters=[
            ENDPOINT_ID,
            OpenApiParameter("event_type", str, enum=[*SUBSCRIBABLE, TEST]),
            OpenApiParameter("status", str, enum=s.STATUS_CHOICES),
            *page_parameters(
                "Deliveries", maximum=PAGE_LIMIT_MAX, default=PAGE_LIMIT_DEFAULT, cursor_pattern=CURSOR_PATTERN
            ),
        ],
        responses={200: s.DeliveryPageOut, **error_responses(400, 403, 404)},
        description="The endpoint's delivery log, newest first.",
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint(self, endpoint_id)
        limit = page_limit(request, maximum=PAGE_LIMIT_MAX, default=PAGE_LIMIT_DEFAULT)
        deliveries = deliveries_of(
            endpoint,
            event_type=_choice(request, "event_type", [*SUBSCRIBABLE, TEST]),
            status=_choice(request, "status", s.STATUS_CHOICES),
        )
        cursor = request.query_params.get("cursor")
        if cursor:
            after = delivery_of(endpoint, cursor_decode(cursor, WebhookDelivery.ID_PREFIX))
            if after is None:
                raise invalid_field("cursor", "Must be the next_cursor of the previous page, as given.")
            deliveries = deliveries.filter(created_at__lte=after.created_at).exclude(
                created_at=after.created_at, id__gte=after.id
            )
        rows = list(deliveries[: limit + 1])
        next_cursor = cursor_encode(rows[limit - 1].public_id) if len(rows) > limit else None
        return Response({"data": [s.delivery_json(d) for d in rows[:limit]], "next_cursor": next_cursor})


class WebhookDeliveryDetailView(StoreApiView):
    @extend_schema(
        operation_id="webhooks_deliveries_retrieve",
        parameters=[ENDPOINT_ID, DELIVERY_ID],
        responses={200: s.DeliveryDetailOut, **error_responses(403, 404)},
    )
    def get(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        delivery = _delivery(_endpoint(self, endpoint_id), delivery_id)
        return Response(
            {
                **s.delivery_json(delivery),
                "event": envelope_json(delivery.event),
                "attemptLog": [s.attempt_json(a) for a in attempts_of(delivery)],
            }
        )


class WebhookDeliveryResendView(StoreApiView):
    @extend_schema(
        operation_id="webhooks_deliveries_resend",
        parameters=[ENDPOINT_ID, DELIVERY_ID],
        request=None,
        responses={200: s.DeliveryOut, **error_responses(400, 403, 404)},
        description="Puts a dead delivery back in the queue with a fresh retry schedule; same event and "
        "delivery ids. Only a dead delivery can be resent (400 otherwise).",
    )
    def post(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        delivery = _delivery(_endpoint(self, endpoint_id), delivery_id)
        if not webhook_delivery_resend(delivery=delivery, now=timezone.now()):
            raise invalid_field("status", f"Only a dead delivery can be resent; this one is {delivery.status}.")
        delivery.refresh_from_db()
        return Response(s.delivery_json(delivery))
