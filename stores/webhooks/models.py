"""The webhook outbox: endpoints, events, deliveries and every attempt made for a delivery."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from genvoris.ids import PublicIdField


class WebhookEndpoint(models.Model):
    """Where a store wants its events: an https URL, the event types, and the signing secret.

    The secret is kept in clear because every delivery is signed with it; it is shown once, at
    creation, and never again (not in the portal, the API or the admin). After a rotation the
    previous secret keeps signing beside the new one until `previous_secret_expires_at`.
    """

    ID_PREFIX = "whe"

    public_id = PublicIdField(prefix=ID_PREFIX)
    store = models.ForeignKey("stores.Store", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=128, editable=False)
    previous_secret = models.CharField(max_length=128, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["store", "created_at"], name="stores_whendpoint_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.url}"


class WebhookEvent(models.Model):
    """Something that happened to a store, as its webhook envelope will carry it.

    `dispatched` is false until the worker has made the deliveries for the endpoints subscribed
    to it; `source` names the row an event was derived from (a try-on's `tro_` id), unique per
    type, so that fanning an outbox row out twice cannot make a second event.
    """

    ID_PREFIX = "evt"

    public_id = PublicIdField(prefix=ID_PREFIX)
    store = models.ForeignKey("stores.Store", on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    source = models.CharField(max_length=64, blank=True)
    dispatched = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "type", "source"], condition=~Q(source=""), name="stores_webhook_event_source_unique"
            )
        ]
        indexes = [
            models.Index(fields=["id"], condition=Q(dispatched=False), name="stores_whevent_due_idx"),
            models.Index(fields=["store", "created_at"], name="stores_whevent_store_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"


class WebhookDelivery(models.Model):
    """One event for one endpoint, with the state of its retries.

    `pending` until the first answer, `failed` while a retry is scheduled, then `succeeded` or
    `dead`. A claimed delivery's `next_attempt_at` is moved past the attempt's longest possible
    life: if the worker dies mid-attempt, the delivery falls due again and is retried.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        DEAD = "dead"

    ID_PREFIX = "whd"
    OPEN = (Status.PENDING, Status.FAILED)

    public_id = PublicIdField(prefix=ID_PREFIX)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # The attempts made before the merchant last resent it: the retry schedule starts over there.
    resend_base = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="stores_webhook_delivery_once"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "succeeded", "failed", "dead"]),
                name="stores_webhook_delivery_status_valid",
            ),
        ]
        indexes = [
            # The worker's claim: open deliveries by due time.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "failed"]),
                name="stores_whdelivery_due_idx",
            ),
            # The delivery log of one endpoint, newest first.
            models.Index(fields=["endpoint", "-created_at"], name="stores_whdelivery_log_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.status}"


class WebhookAttempt(models.Model):
    """One HTTP request made for a delivery, and what came back (or why nothing did).

    `finished_at` is empty while the request is in flight; an attempt found so by a later claim
    was interrupted (its worker stopped) and says so.
    """

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    # Where it went: the address the name resolved to (empty when the URL was refused first).
    address = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="stores_webhook_attempt_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
