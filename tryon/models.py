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
        DEBITED = "debited", "Charged"
        FAILED = "failed", "Generation failed"
        CREDIT_LIMIT_REACHED = "credit_limit_reached", "Blocked: store out of credits"
        END_CUSTOMER_QUOTA = "end_customer_quota", "Blocked: shopper's quota"

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
    # The widget's visit id (SPEC §16), forwarded by the backend: ties a try-on to the funnel
    # events and orders of the same visit. Empty when the caller sent none.
    widget_session_id = models.CharField(max_length=64, blank=True, default="", db_default="")

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
            # Hard attribution: a visit's debited try-ons (only rows that have a visit id).
            models.Index(
                fields=["store", "widget_session_id", "created_at"],
                condition=Q(debited=True) & ~Q(widget_session_id=""),
                name="tryon_event_session_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.get_outcome_display()}"


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


# --- the funnel, orders and returns (SPEC §16) ----------------------------------------------------


class WidgetEvent(models.Model):
    """One step of a shopper's visit, as the widget (or the merchant's server) reported it."""

    class Type(models.TextChoices):
        WIDGET_OPENED = "WIDGET_OPENED"
        PHOTO_UPLOADED = "PHOTO_UPLOADED"
        TRYON_GENERATED = "TRYON_GENERATED"
        TRYON_VIEWED = "TRYON_VIEWED"
        RESULT_SHARED = "RESULT_SHARED"
        ADDED_TO_CART = "ADDED_TO_CART"
        CHECKOUT_STARTED = "CHECKOUT_STARTED"
        CLOSED = "CLOSED"

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="widget_events")
    session_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=20, choices=Type.choices)
    product_id = models.CharField(max_length=200, blank=True)
    product_title = models.CharField(max_length=300, blank=True)
    page_url = models.CharField(max_length=2048, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["store", "created_at"], name="tryon_wevent_store_time_idx"),
            models.Index(fields=["store", "session_id"], name="tryon_wevent_session_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} {self.event_type}"


class Conversion(models.Model):
    """An order the merchant reported, and whether try-on had a part in it."""

    class Platform(models.TextChoices):
        SHOPIFY = "shopify"
        WOOCOMMERCE = "woocommerce"
        CUSTOM = "custom"

    class Attribution(models.TextChoices):
        HARD = "hard"  # the order's visit had a debited try-on before the order
        SOFT = "soft"  # the buyer's email is a shopper's who had one within the window
        NONE = "none"

    ID_PREFIX = "cnv"

    public_id = PublicIdField(prefix=ID_PREFIX)
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="conversions")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    order_id = models.CharField(max_length=200)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    quantity = models.PositiveIntegerField(null=True, blank=True)
    product_id = models.CharField(max_length=200, blank=True)
    product_title = models.CharField(max_length=300, blank=True)
    session_id = models.CharField(max_length=64, blank=True)
    # SHA-256 hex of the normalised email; the email itself is never stored.
    email_hash = models.CharField(max_length=64, blank=True)
    attribution_window_minutes = models.PositiveIntegerField(default=1440)
    attribution = models.CharField(max_length=8, choices=Attribution.choices, default=Attribution.NONE)
    # The try-on the order is credited to (hard or soft); null when none.
    tryon_event = models.ForeignKey(
        TryOnEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversions"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "platform", "order_id"], name="tryon_conversion_order_unique"),
            models.CheckConstraint(condition=Q(amount_cents__gte=0), name="tryon_conversion_amount_not_negative"),
        ]
        indexes = [models.Index(fields=["store", "created_at"], name="tryon_conv_store_time_idx")]

    def __str__(self) -> str:
        return f"{self.platform}:{self.order_id}"

    @property
    def attributed(self) -> bool:
        return self.attribution != self.Attribution.NONE


class OrderReturn(models.Model):
    """A refund the merchant reported, linked to its order's conversion when there is one."""

    ID_PREFIX = "ret"

    public_id = PublicIdField(prefix=ID_PREFIX)
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="order_returns")
    platform = models.CharField(max_length=16, choices=Conversion.Platform.choices)
    order_id = models.CharField(max_length=200)
    refunded_amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    reason = models.CharField(max_length=500, blank=True)
    conversion = models.ForeignKey(Conversion, on_delete=models.SET_NULL, null=True, blank=True, related_name="returns")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(refunded_amount_cents__gte=0), name="tryon_orderreturn_amount_not_negative"
            )
        ]
        indexes = [models.Index(fields=["store", "created_at"], name="tryon_return_store_time_idx")]

    def __str__(self) -> str:
        return f"return {self.platform}:{self.order_id}"


# --- the Analytics page's daily rollups (SPEC §16), written by `rollup_usage` ------------------


class DailyFunnel(models.Model):
    """One store's widget sessions of one UTC day: each session is counted on the day of its first
    event, with the steps it reached that day (dense from the store's first event or order, so the
    latest row is the watermark)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sessions = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    uploaded = models.PositiveIntegerField(default=0)
    generated = models.PositiveIntegerField(default=0)
    viewed = models.PositiveIntegerField(default=0)
    added_to_cart = models.PositiveIntegerField(default=0)
    # Of `sessions`, those with a debited try-on (TryOnEvent.widget_session_id) by the day's end.
    tryon_sessions = models.PositiveIntegerField(default=0)
    rolled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["store", "day"], name="tryon_dailyfunnel_store_day_unique")]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day}: {self.sessions} sessions"


class DailyProductFunnel(models.Model):
    """The funnel of one product on one UTC day (sparse), with the orders of it from widget sessions."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    product_id = models.CharField(max_length=200, blank=True)
    product_title = models.CharField(max_length=300, blank=True)
    opened = models.PositiveIntegerField(default=0)
    uploaded = models.PositiveIntegerField(default=0)
    generated = models.PositiveIntegerField(default=0)
    viewed = models.PositiveIntegerField(default=0)
    added_to_cart = models.PositiveIntegerField(default=0)
    purchased = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "day", "product_id"], name="tryon_dailyproductfunnel_store_day_product_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day} {self.product_id!r}"


class DailyOrders(models.Model):
    """One store's orders of one UTC day by currency, attribution and the order's visit (sparse)."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    currency = models.CharField(max_length=3)
    attribution = models.CharField(max_length=8, choices=Conversion.Attribution.choices)
    # The order's session had a debited try-on before the order / had sent a widget event before it.
    tryon_session = models.BooleanField()
    widget_session = models.BooleanField()
    orders = models.PositiveIntegerField(default=0)
    amount_cents = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "day", "currency", "attribution", "tryon_session", "widget_session"],
                name="tryon_dailyorders_store_day_group_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.day} {self.currency} {self.attribution}: {self.orders}"
