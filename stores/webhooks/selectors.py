"""Reads of a store's webhook endpoints and their delivery log."""

from django.db.models import Count, Q, QuerySet

from stores.models import Store
from stores.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def webhook_endpoints_of(store: Store) -> QuerySet[WebhookEndpoint]:
    """Newest first, each with its count of dead deliveries (what needs the merchant's eye)."""
    return (
        WebhookEndpoint.objects.filter(store=store)
        .annotate(dead=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.DEAD)))
        .order_by("-created_at", "-id")
    )


def webhook_endpoint_of(store: Store, public_id: str) -> WebhookEndpoint | None:
    return WebhookEndpoint.objects.filter(store=store, public_id=public_id).first()


def deliveries_of(
    endpoint: WebhookEndpoint, *, event_type: str | None = None, status: str | None = None
) -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery log, newest first, optionally of one event type and one status."""
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
    if event_type:
        deliveries = deliveries.filter(event__type=event_type)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.order_by("-created_at", "-id")


def delivery_of(endpoint: WebhookEndpoint, public_id: str) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(endpoint=endpoint, public_id=public_id).select_related("event").first()


def attempts_of(delivery: WebhookDelivery) -> list[WebhookAttempt]:
    return list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
