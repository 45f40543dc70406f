from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from genvoris.ids import PublicIdField

PACK_VALIDITY_DAYS = 365


class Store(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    public_id = PublicIdField(prefix="st")
    name = models.CharField(max_length=120)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Suspension (SPEC §19): the note is for support staff only and never reaches the merchant;
    # the message is what the merchant reads in the portal banner and in the API's `detail`.
    suspended_note = models.CharField("internal note", max_length=500, blank=True, help_text="Staff only.")
    suspended_message = models.CharField(
        "message to the merchant", max_length=500, blank=True, help_text="Shown in the portal and the API."
    )
    suspended_at = models.DateTimeField(null=True, blank=True)
    # Moves only through conditional F() updates in stores.services; the constraint is the net.
    credit_balance = models.PositiveIntegerField(default=0, editable=False)
    low_balance_threshold = models.PositiveIntegerField(default=100)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The event types some active webhook endpoint of the store subscribes to, kept by the
    # endpoint services. Read with the key on every try-on, so a store without endpoints pays
    # nothing for webhooks, and one with them writes an event only for what is subscribed.
    webhook_topics = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(credit_balance__gte=0), name="stores_store_credit_balance_gte_0"),
            models.CheckConstraint(condition=Q(status__in=["active", "suspended"]), name="stores_store_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Membership(models.Model):
    class Role(models.TextChoices):
        """What a member may do in the portal (SPEC §19), enforced by stores.portal.member_view:
        an owner everything; a developer keys, webhooks, integration, plans and customers, but not
        the team or credit purchases; a viewer reads every page and changes nothing."""

        OWNER = "owner", "Owner"
        DEVELOPER = "developer", "Developer"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "store"], name="stores_membership_user_store_unique")]

    def __str__(self) -> str:
        return f"{self.user} → {self.store} ({self.role})"


class ApiKey(models.Model):
    class Kind(models.TextChoices):
        SECRET = "secret"
        PUBLISHABLE = "publishable"

    PREFIXES = {Kind.SECRET: "gvk_live_", Kind.PUBLISHABLE: "gvk_pub_"}

    public_id = PublicIdField(prefix="key")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=80, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SECRET)
    prefix = models.CharField(max_length=12, editable=False)
    # SHA-256 of the whole key: keys are 192-bit random, so a fast hash is enough and lets the
    # lookup be one indexed equality instead of a per-key slow-hash comparison.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    allowed_domains = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The whole key, for publishable keys only: they are public by design (every page with the
    # widget shows them), and the Integration page prints the store's exact snippet. Secret keys
    # keep nothing but their hash; publishable keys made before this field have it empty.
    public_value = models.CharField(max_length=100, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["secret", "publishable"]), name="stores_apikey_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind="publishable") | Q(public_value=""), name="stores_apikey_public_value_publishable_only"
            ),
            # Revocation is final (SPEC §19): a revoked key is inactive, whatever writes the row.
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(active=False), name="stores_apikey_revoked_stays_inactive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.kind})"

    @property
    def is_usable(self) -> bool:
        # Nothing but its store (or support staff) disables a key: refusals a stranger can cause
        # are counted (KeyRefusal), never held against the key (SPEC §3).
        return self.active


class KeyRefusal(models.Model):
    """Refusals of one key for one cause from one origin host in one hour (SPEC §3).

    A stranger can cause these (an Origin header, a forwarded shopper token), so they never
    disable the key; the merchant sees the last 24 hours on the keys page and can revoke it.
    """

    class Cause(models.TextChoices):
        DOMAIN_NOT_ALLOWED = "domain_not_allowed", "Origin not on the allowlist"
        TOKEN_STORE_MISMATCH = "token_store_mismatch", "Shopper token of another store"
        INVALID_SESSION_TOKEN = "invalid_session_token", "Invalid or expired shopper token"

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="refusals")
    cause = models.CharField(max_length=32, choices=Cause.choices)
    origin_host = models.CharField(max_length=253, blank=True)  # empty: no origin was sent
    hour = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of the keys page's read: a key's rows in the last 24 hours.
            models.UniqueConstraint(
                fields=["api_key", "cause", "origin_host", "hour"], name="stores_keyrefusal_key_cause_host_hour_unique"
            )
        ]
        indexes = [models.Index(fields=["hour"], name="stores_keyrefusal_hour_idx")]  # pruning

    def __str__(self) -> str:
        return f"{self.api_key_id} {self.cause} {self.origin_host or '-'}: {self.count}"


class CreditPack(models.Model):
    class Source(models.TextChoices):
        ADMIN = "admin"
        COMMAND = "command"
        API = "api"

    public_id = PublicIdField(prefix="pck")
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="credit_packs")
    credits = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()
    price_per_credit = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    purchased_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # Set by the expiry job when it writes off what was left; such a pack is never spent again.
    expired_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.COMMAND)
    note = models.CharField(max_length=500, blank=True)
    # The one-time token of the admin form that made the pack (stores.admin.TopUpForm); empty for
    # other sources. Unique per store, so a second submission of one form cannot add a second pack.
    request_token = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(remaining__gte=0), name="stores_creditpack_remaining_gte_0"),
            models.CheckConstraint(
                condition=Q(remaining__lte=models.F("credits")), name="stores_creditpack_remaining_lte_credits"
            ),
            models.CheckConstraint(condition=Q(credits__gt=0), name="stores_creditpack_credits_gt_0"),
            # Also the index of the replay lookup: the pack a request token already made.
            models.UniqueConstraint(
                fields=["store", "request_token"],
                condition=~Q(request_token=""),
                name="stores_creditpack_store_request_token_unique",
            ),
        ]
        indexes = [
            # The FIFO debit: the live pack of a store that expires soonest.
            models.Index(
                fields=["store", "expires_at", "id"],
                condition=Q(remaining__gt=0, expired_at__isnull=True),
                name="stores_pack_live_fifo_idx",
            ),
            # expire_credit_packs: packs due for write-off.
            models.Index(fields=["expires_at"], condition=Q(expired_at__isnull=True), name="stores_pack_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id}: {self.remaining}/{self.credits}"


class CreditLedgerEntry(models.Model):
    """Every balance movement that is not a try-on debit (those are debited TryOnEvents)."""

    class Kind(models.TextChoices):
        TOPUP = "topup"
        EXPIRY = "expiry"
        ADJUSTMENT = "adjustment"
        REFUND = "refund"

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="ledger_entries")
    pack = models.ForeignKey(CreditPack, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    delta = models.IntegerField()
    balance_after = models.PositiveIntegerField()
    actor = models.CharField(max_length=200, help_text="Who made the change: a user's email, 'command' or 'system'.")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    # The one-time token of the admin form that made the entry (a credit adjustment), empty
    # otherwise: unique per store, so a form sent twice adjusts the balance once.
    request_token = models.CharField(max_length=64, blank=True, default="", db_default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "credit ledger entries"
        indexes = [models.Index(fields=["store", "-created_at"], name="stores_ledger_store_recent_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "request_token"],
                condition=~Q(request_token=""),
                name="stores_creditledgerentry_store_request_token_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.delta:+d} → {self.balance_after}"


class AuditEntry(models.Model):
    """Who did what to a store, and when: written by the service that makes the change, in its
    transaction, so a change without its entry (or the reverse) cannot be committed."""

    class Action(models.TextChoices):
        STORE_SUSPENDED = "store.suspended", "Store suspended"
        STORE_REACTIVATED = "store.reactivated", "Store reactivated"
        STORE_UPDATED = "store.updated", "Store settings changed"
        CREDITS_TOPPED_UP = "credits.topped_up", "Credits topped up"
        CREDITS_ADJUSTED = "credits.adjusted", "Credits adjusted"
        PLAN_CREATED = "plan.created", "Plan created"
        PLAN_UPDATED = "plan.updated", "Plan changed"
        CUSTOMER_CREATED = "customer.created", "Customer created"
        CUSTOMER_UPDATED = "customer.updated", "Customer details changed"
        CUSTOMER_STATUS_CHANGED = "customer.status_changed", "Customer status changed"
        CUSTOMER_PLAN_CHANGED = "customer.plan_changed", "Customer plan changed"
        CUSTOMER_PERIOD_RESET = "customer.period_reset", "Customer period reset"
        WEBHOOK_CREATED = "webhook.created", "Webhook endpoint added"
        WEBHOOK_UPDATED = "webhook.updated", "Webhook endpoint changed"
        WEBHOOK_DELETED = "webhook.deleted", "Webhook endpoint deleted"
        WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated", "Webhook secret rotated"
        BUTTON_DESIGN_UPDATED = "button_design.updated", "Button design changed"
        API_KEY_CREATED = "api_key.created", "API key created"
        API_KEY_REVOKED = "api_key.revoked", "API key revoked"
        API_KEY_DISABLED = "api_key.disabled", "API key disabled by support"
        API_KEY_ENABLED = "api_key.enabled", "API key re-enabled by support"
        API_KEY_RELABELED = "api_key.relabeled", "API key relabeled"
        MEMBER_INVITED = "member.invited", "Team member invited"
        MEMBER_ROLE_CHANGED = "member.role_changed", "Team member's role changed"
        MEMBER_REMOVED = "member.removed", "Team member removed"

    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="audit_entries")
    action = models.CharField(max_length=32, choices=Action.choices)
    # The public id of what changed: st_…, pck_…, pln_… or ec_….
    target = models.CharField(max_length=64)
    actor = models.CharField(max_length=200, help_text="A user's email, 'api:<key prefix>', 'command' or 'system'.")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    # Keys of `detail` for support staff only: a suspension's internal note. Whatever shows the
    # trail to the merchant shows merchant_detail().
    STAFF_ONLY_DETAIL = frozenset({"note", "previous_note", "internal_note"})

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [
            # The store page's recent activity and the audit list filtered by store, newest first.
            models.Index(fields=["store", "-created_at"], name="stores_audit_store_recent_idx")
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.target} by {self.actor}"

    def merchant_detail(self) -> dict[str, Any]:
        """The detail without what only staff may read."""
        return {key: value for key, value in self.detail.items() if key not in self.STAFF_ONLY_DETAIL}


BUTTON_LABEL_MAX = 20


class ButtonDesign(models.Model):
    """How the widget draws the buttons it renders itself (SPEC §17). A store without a row has
    the defaults; the row is made by the first change. The database holds every bound."""

    class Icon(models.TextChoices):
        NONE = "none"
        CAMERA = "camera"
        SPARKLES = "sparkles"
        SHIRT = "shirt"
        EYE = "eye"
        WAND = "wand"

    class Position(models.TextChoices):
        INLINE = "inline"
        FLOATING_RIGHT = "floating-right"
        FLOATING_LEFT = "floating-left"

    LABEL_MAX = BUTTON_LABEL_MAX
    # Each field by its published name (SPEC §17: the API, the public endpoint and the portal
    # form all use these) → the model's attribute.
    FIELDS = {
        "label": "label",
        "icon": "icon",
        "borderRadius": "border_radius",
        "fontSize": "font_size",
        "paddingX": "padding_x",
        "paddingY": "padding_y",
        "position": "position",
        "showOnCards": "show_on_cards",
    }
    RANGES = {"borderRadius": (0, 40), "fontSize": (10, 24), "paddingX": (4, 60), "paddingY": (4, 40)}

    store = models.OneToOneField(Store, on_delete=models.CASCADE, primary_key=True, related_name="button_design")
    label = models.CharField(max_length=BUTTON_LABEL_MAX, default="Try On")
    icon = models.CharField(max_length=16, choices=Icon.choices, default=Icon.SPARKLES)
    border_radius = models.PositiveSmallIntegerField(default=8)
    font_size = models.PositiveSmallIntegerField(default=14)
    padding_x = models.PositiveSmallIntegerField(default=20)
    padding_y = models.PositiveSmallIntegerField(default=10)
    position = models.CharField(max_length=16, choices=Position.choices, default=Position.INLINE)
    show_on_cards = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("label"), 1) & LessThanOrEqual(Length("label"), BUTTON_LABEL_MAX),
                name="stores_buttondesign_label_length",
            ),
            models.CheckConstraint(
                condition=Q(icon__in=["none", "camera", "sparkles", "shirt", "eye", "wand"]),
                name="stores_buttondesign_icon_valid",
            ),
            models.CheckConstraint(
                condition=Q(position__in=["inline", "floating-right", "floating-left"]),
                name="stores_buttondesign_position_valid",
            ),
            models.CheckConstraint(
                condition=Q(border_radius__gte=0, border_radius__lte=40), name="stores_buttondesign_border_radius_range"
            ),
            models.CheckConstraint(
                condition=Q(font_size__gte=10, font_size__lte=24), name="stores_buttondesign_font_size_range"
            ),
            models.CheckConstraint(
                condition=Q(padding_x__gte=4, padding_x__lte=60), name="stores_buttondesign_padding_x_range"
            ),
            models.CheckConstraint(
                condition=Q(padding_y__gte=4, padding_y__lte=40), name="stores_buttondesign_padding_y_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Button design of {self.store_id}: {self.label!r}"


# The webhook outbox lives in its own module of this app (stores/webhooks/).
from stores.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent  # noqa: E402

__all__ = [
    "PACK_VALIDITY_DAYS",
    "ApiKey",
    "AuditEntry",
    "ButtonDesign",
    "CreditLedgerEntry",
    "CreditPack",
    "KeyRefusal",
    "Membership",
    "Store",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
