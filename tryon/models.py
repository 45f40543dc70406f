from django.db import models
from django.db.models import Q
from django.utils import timezone

from genvoris.ids import PublicIdField
from quotas.models import EndCustomer
from stores.models import ApiKey, Store


class TryOnEvent(models.Model):
    """One reported try-on: debited, failed, or blocked by a 402 (merchants want blocked demand)."""

    class ProductType(models.TextChoices):
        APPAREL = "apparel"
        HOME = "home"
        OBJECT = "object"
        OTHER = "other"

    class Outcome(models.TextChoices):
        DEBITED = "debited"
        FAILED = "failed"
        CREDIT_LIMIT_REACHED = "credit_limit_reached"
        END_CUSTOMER_QUOTA = "end_customer_quota"

    ID_PREFIX = "tro"
    # Bits of `webhooks`: what the worker still has to report of this try-on (SPEC §7).
    WEBHOOK_TRYON = 1  # tryon.completed or tryon.failed
    WEBHOOK_QUOTA_WARNING = 2  # this try-on reached 80 % of the shopper's period
    WEBHOOK_QUOTA_EXHAUSTED = 4  # this try-on used the last one, or was refused for want of one

    public_id = PublicIdField(prefix=ID_PREFIX)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="tryon_events")
    api_key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="tryon_events")
    end_customer = models.ForeignKey(
        EndCustomer, on_delete=models.PROTECT, null=True, blank=True, related_name="tryon_events"
    )
    product_type = models.CharField(max_length=16, choices=ProductType.choices, default=ProductType.APPAREL)
    product_title = models.CharField(max_length=300, blank=True)
    page_url = models.CharField(max_length=2048, blank=True)
    origin = models.CharField(max_length=2048, blank=True)
    variation_count = models.PositiveSmallIntegerField(default=1)
    generation_time_ms = models.PositiveIntegerField(null=True, blank=True)
    success = models.BooleanField(default=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices)
    # For end_customer_quota: quota_exhausted / no_plan / paused / cancelled.
    reason = models.CharField(max_length=32, blank=True)
    debited = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The webhook outbox of try-ons: set in the row's own insert when the store subscribes to
    # what happened (so the track path writes nothing extra), cleared by the worker once the
    # events are made. Zero for every try-on of a store without endpoints.
    webhooks = models.PositiveSmallIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(debited=False) | Q(outcome="debited", success=True),
                name="tryon_tryonevent_debited_means_success",
            ),
            models.CheckConstraint(
                condition=Q(variation_count__gte=1, variation_count__lte=16),
                name="tryon_tryonevent_variation_count_range",
            ),
        ]
        indexes = [
            # Usage pages and audits: a store's events by time.
            models.Index(fields=["store", "created_at"], name="tryon_event_store_time_idx"),
            # Per-customer history in the portal and the API.
            models.Index(fields=["end_customer", "created_at"], name="tryon_event_customer_time_idx"),
            # The webhook worker's outbox read: only rows still to report, so it stays tiny.
            models.Index(fields=["id"], condition=Q(webhooks__gt=0), name="tryon_event_webhooks_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.outcome}"


class IdempotencyRecord(models.Model):
    """The answer an `Idempotency-Key` is bound to, kept 24 hours (SPEC §3).

    Inserted last in the transaction of the outcome it describes, so a row exists only for an
    outcome that committed (tryon/services/idempotency.py).
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "key"], name="tryon_idempotencyrecord_store_key_unique")
        ]
        indexes = [models.Index(fields=["created_at"], name="tryon_idem_created_idx")]  # pruning

    def __str__(self) -> str:
        return f"{self.key} → {self.response_status}"


class DailyUsage(models.Model):
    """One store's try-ons of one UTC day, written by `manage.py rollup_usage` once the day is over.

    The usage pages read finished days from here and only the days after the last rolled one from
    TryOnEvent, so they cost the same with a thousand events or a million. Rows are dense: every
    day from a store's first event to the last rolled day has one, zeros included, so a store's
    latest row is also its watermark.
    """

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    debited = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    # Blocked (402) try-ons by reason: credit_limit_reached, quota_exhausted, no_plan, paused, cancelled.
    blocked = models.JSONField(default=dict)
    # Generation times of debited try-ons, {tenths of a second: count}, from which medians merge.
    generation_histogram = models.JSONField(default=dict)
    rolled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Also the index of the overview's read: a store's days in a range, and its latest day.
            models.UniqueConstraint(fields=["store", "day"], name="tryon_dailyusage_store_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day}: {self.debited} debited"


class DailyProductUsage(models.Model):
    """One product's try-ons of one UTC day in one store (sparse: only products with events)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    product_type = models.CharField(max_length=16, choices=TryOnEvent.ProductType.choices)
    product_title = models.CharField(max_length=300, blank=True)
    debited = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    blocked = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of the products page: a store's rows in a day range.
            models.UniqueConstraint(
                fields=["store", "day", "product_type", "product_title"],
                name="tryon_dailyproductusage_store_day_product_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day} {self.product_title!r}: {self.debited} debited"
