"""The /api/v1/webhooks wire format (SPEC §6, §7): resources in camelCase, times ISO 8601 UTC."""

from typing import Any

from rest_framework import serializers

from genvoris.fields import StrictBooleanField, StrictCharField, UtcDateTimeField
from stores.webhooks.catalogue import ALL, SUBSCRIBABLE, TEST
from stores.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

EVENT_CHOICES = [ALL, *SUBSCRIBABLE]
STATUS_CHOICES = [status.value for status in WebhookDelivery.Status]

# --- output ---------------------------------------------------------------------------------


class EndpointOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES))
    description = serializers.CharField()
    active = serializers.BooleanField()
    createdAt = UtcDateTimeField(source="created_at")
    updatedAt = UtcDateTimeField(source="updated_at")


class EndpointCreatedOut(EndpointOut):
    secret = serializers.CharField(help_text="The signing secret. Returned here once and never again.")


class EndpointListOut(serializers.Serializer):
    data = EndpointOut(many=True)  # type: ignore[assignment]  # the wire name; DRF pops declared fields


class SecretOut(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret, returned once.")
    previousSecretExpiresAt = UtcDateTimeField(
        help_text="Until then deliveries carry a second v1 signature made with the previous secret."
    )


class AttemptOut(serializers.Serializer):
    number = serializers.IntegerField()
    startedAt = UtcDateTimeField(source="started_at")
    finishedAt = UtcDateTimeField(source="finished_at", allow_null=True)
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    latencyMs = serializers.IntegerField(source="latency_ms", allow_null=True)
    error = serializers.CharField()
    responseExcerpt = serializers.CharField(source="response_excerpt")


# A delivery carries a subscribable event or the test ping (named in the schema: settings.SPECTACULAR_SETTINGS).
DELIVERY_EVENT_TYPES = [*SUBSCRIBABLE, TEST]


class DeliveryOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    eventId = serializers.CharField(source="event.public_id")
    eventType = serializers.ChoiceField(source="event.type", choices=DELIVERY_EVENT_TYPES)
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    attempts = serializers.IntegerField()
    nextAttemptAt = UtcDateTimeField(source="next_attempt_at", allow_null=True)
    lastStatusCode = serializers.IntegerField(source="last_status_code", allow_null=True)
    lastLatencyMs = serializers.IntegerField(source="last_latency_ms", allow_null=True)
    lastError = serializers.CharField(source="last_error")
    createdAt = UtcDateTimeField(source="created_at")


class DeliveryDetailOut(DeliveryOut):
    event = serializers.DictField(help_text="The envelope as it is sent: id, type, created, data.")
    attemptLog = AttemptOut(many=True, help_text="Every attempt, first first.")


class DeliveryPageOut(serializers.Serializer):
    data = DeliveryOut(many=True)  # type: ignore[assignment]  # the wire name; DRF pops declared fields
    next_cursor = serializers.CharField(allow_null=True)


class TestResponseOut(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Whether the endpoint answered 2xx.")
    statusCode = serializers.IntegerField(allow_null=True)
    latencyMs = serializers.IntegerField()
    error = serializers.CharField()
    responseExcerpt = serializers.CharField()


class TestOut(serializers.Serializer):
    delivery = DeliveryOut()
    response = TestResponseOut()


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return EndpointOut(endpoint).data


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return DeliveryOut(delivery).data


def attempt_json(attempt: WebhookAttempt) -> dict[str, Any]:
    return AttemptOut(attempt).data


# --- input ----------------------------------------------------------------------------------
# Only the shape is checked here; what makes a URL, a subscription or a secret acceptable is the
# services' to say (stores.webhooks.services), so the portal and the API refuse the same things.


def _event_types(**options: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(
            choices=EVENT_CHOICES,
            error_messages={"invalid_choice": "Unknown event type {input!r}; see the list in the documentation."},
        ),
        max_length=len(EVENT_CHOICES),
        allow_empty=False,
        **options,
    )


class EndpointIn(serializers.Serializer):
    url = StrictCharField(max_length=2048, help_text="https, resolving only to public addresses.")
    events = _event_types(required=False, help_text='Event types to receive; ["*"] (the default) for every type.')
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    secret = StrictCharField(
        required=False,
        trim_whitespace=False,
        min_length=24,
        max_length=128,
        help_text="Your own signing secret (24–128 characters); leave it out for a generated `whsec_` one.",
    )


class EndpointPatchIn(serializers.Serializer):
    url = StrictCharField(max_length=2048, required=False)
    events = _event_types(required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    active = StrictBooleanField(required=False, help_text="false holds new deliveries until it is true again.")
