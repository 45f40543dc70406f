from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower, Trim
from django.utils import timezone

from genvoris.ids import PublicIdField
from stores.models import Store

MAX_MONTHLY_TRY_ONS = 1_000_000
METADATA_MAX_KEYS = 20
METADATA_MAX_BYTES = 4096


class Plan(models.Model):
    public_id = PublicIdField(prefix="pln")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="plans")
    name = models.CharField(max_length=80)
    monthly_try_ons = models.PositiveIntegerField()
    external_price_id = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(monthly_try_ons__gte=1, monthly_try_ons__lte=1_000_000),
                name="quotas_plan_monthly_try_ons_range",
            ),
            # Two plans one name could not be told apart in the portal or the admin; a disabled
            # plan keeps its name, since it can be enabled again. Case does not make a new name.
            models.UniqueConstraint(F("store"), Lower("name"), name="quotas_plan_store_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.monthly_try_ons}/period)"


class EndCustomer(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        PAUSED = "PAUSED"
        CANCELLED = "CANCELLED"

    public_id = PublicIdField(prefix="ec")
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="end_customers")
    external_id = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="customers")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    metadata = models.JSONField(default=dict, blank=True)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "external_id"], name="quotas_endcustomer_store_external_id_unique"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")), name="quotas_endcustomer_period_ordered"
            ),
        ]
        indexes = [
            # The v1 customer list: a store's customers by id cursor, optionally by status.
            models.Index(fields=["store", "status", "id"], name="quotas_customer_list_idx"),
            # Soft attribution of an order (tryon/services/funnel.py): a store's shoppers by the
            # normalised address the order names.
            models.Index(F("store"), Lower(Trim("email")), name="quotas_customer_email_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.public_id})"


class UsagePeriod(models.Model):
    customer = models.ForeignKey(EndCustomer, on_delete=models.CASCADE, related_name="usage_periods")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    # The plan's monthly_try_ons when the period opened: a plan change applies next period.
    limit = models.PositiveIntegerField()
    used = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "period_start"], name="quotas_usageperiod_customer_start_unique"
            ),
            models.CheckConstraint(condition=Q(used__gte=0), name="quotas_usageperiod_used_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.used}/{self.limit} from {self.period_start:%Y-%m-%d}"

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class SigningKey(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        RETIRING = "retiring"
        RETIRED = "retired"

    kid = PublicIdField(prefix="gv", separator="-")
    private_key_pem = models.TextField(editable=False)
    public_jwk = models.JSONField(editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # A retiring key verifies until then: the moment the last token it signed expires.
    retire_after = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Two processes creating "the first key" at once must not both win.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="quotas_signingkey_one_active"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.status})"


class ShopperSession(models.Model):
    """A session token minted for a shopper (SPEC §5, §14): its jti, when it was issued and
    expires, and whether it was revoked. The token itself is never stored.

    Only minted tokens have a row, so revoking a made-up jti finds nothing (404) and writes
    nothing: the table holds at most what the mint budget allowed in a token's lifetime.
    """

    jti = models.CharField(max_length=200, unique=True)
    customer = models.ForeignKey(EndCustomer, on_delete=models.CASCADE, related_name="sessions")
    issued_at = models.DateTimeField()  # the token's iat
    expires_at = models.DateTimeField()  # its exp; the row may be pruned once this (and leeway) passed
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("issued_at")), name="quotas_shoppersession_expires_after_issue"
            )
        ]
        indexes = [
            # GET /api/v1/customers/{id}/sessions: a customer's recent sessions, newest first.
            models.Index(fields=["customer", "issued_at"], name="quotas_session_customer_idx"),
            # prune_expired: sessions past their token's life.
            models.Index(fields=["expires_at"], name="quotas_session_expires_idx"),
        ]

    def __str__(self) -> str:
        return self.jti

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
