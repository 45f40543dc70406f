"""The /api/v1 wire format (SPEC §6): resources and write bodies in camelCase, usage and session
payloads in snake_case, timestamps ISO 8601 UTC with milliseconds and `Z`."""

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from genvoris.fields import StrictBooleanField, StrictCharField, StrictIntegerField, UtcDateTimeField, iso_utc
from genvoris.ids import public_id_pattern
from quotas.models import (
    MAX_MONTHLY_TRY_ONS,
    METADATA_MAX_BYTES,
    METADATA_MAX_KEYS,
    EndCustomer,
    Plan,
    ShopperSession,
    UsagePeriod,
)
from quotas.selectors import CurrentUsage

NAME_MESSAGE = "Must be 1 to 80 characters."
QUOTA_MESSAGE = "Must be an integer between 1 and 1,000,000."
STATUS_CHOICES = [choice.value for choice in EndCustomer.Status]
PLAN_ID_PATTERN = f"^{public_id_pattern('pln')}$"
# DRF trims a CharField and refuses what is left blank before any validator runs, so this one never
# fires: it is how the schema says so (`pattern`), as minLength 1 alone would let "  " through.
NOT_BLANK = RegexValidator(r"\S", "This field may not be blank.")

# --- output ---------------------------------------------------------------------------------


class PlanOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    monthlyTryOns = serializers.IntegerField(source="monthly_try_ons")
    externalPriceId = serializers.SerializerMethodField()
    active = serializers.BooleanField()
    createdAt = UtcDateTimeField(source="created_at")
    updatedAt = UtcDateTimeField(source="updated_at")

    def get_externalPriceId(self, plan: Plan) -> str | None:
        return plan.external_price_id or None


class CustomerOut(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    externalId = serializers.CharField(source="external_id")
    email = serializers.SerializerMethodField()
    planId = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    metadata = serializers.DictField()
    periodStart = UtcDateTimeField(source="period_start")
    periodEnd = UtcDateTimeField(source="period_end")
    createdAt = UtcDateTimeField(source="created_at")
    updatedAt = UtcDateTimeField(source="updated_at")

    def get_email(self, customer: EndCustomer) -> str | None:
        return customer.email or None

    def get_planId(self, customer: EndCustomer) -> str | None:
        return customer.plan.public_id if customer.plan else None


class PeriodOut(serializers.Serializer):
    period_start = UtcDateTimeField()
    period_end = UtcDateTimeField()
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()


class CustomerDetailOut(CustomerOut):
    plan = PlanOut(allow_null=True)
    usage = PeriodOut(many=True, help_text="The last 12 periods, newest first.")


class PlanListOut(serializers.Serializer):
    data = PlanOut(many=True)  # type: ignore[assignment]  # the wire name; DRF pops declared fields


class CustomerPageOut(serializers.Serializer):
    data = CustomerOut(many=True)  # type: ignore[assignment]  # the wire name; DRF pops declared fields
    next_cursor = serializers.CharField(allow_null=True)


class UsagePlanOut(serializers.Serializer):
    """Resource casing inside the snake_case usage payload, as the published SDKs read it (SPEC §14)."""

    id = serializers.CharField()
    name = serializers.CharField()
    monthlyTryOns = serializers.IntegerField()


class CurrentOut(serializers.Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()
    ok = serializers.BooleanField(help_text="Whether a try-on would be accepted now.")


class UsageDataOut(serializers.Serializer):
    customer_id = serializers.CharField()
    external_id = serializers.CharField()
    plan = UsagePlanOut(allow_null=True)
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    period_start = serializers.CharField()
    period_end = serializers.CharField()
    current = CurrentOut()
    history = PeriodOut(many=True, help_text="The last 24 periods, newest first.")


class UsageOut(serializers.Serializer):
    data = UsageDataOut()  # type: ignore[assignment]  # the wire name; DRF pops declared fields


class SessionCustomerOut(serializers.Serializer):
    id = serializers.CharField()
    external_id = serializers.CharField()
    plan_id = serializers.CharField(allow_null=True)
    plan_name = serializers.CharField(allow_null=True)
    monthly_try_ons = serializers.IntegerField(allow_null=True)
    period_start = serializers.CharField()
    period_end = serializers.CharField()


class SessionOut(serializers.Serializer):
    token = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_in = serializers.IntegerField()
    expires_at = serializers.IntegerField(help_text="Unix seconds.")
    customer = SessionCustomerOut()


class SessionRecordOut(serializers.Serializer):
    jti = serializers.CharField()
    issued_at = serializers.IntegerField(help_text="Unix seconds (the token's iat).")
    expires_at = serializers.IntegerField(help_text="Unix seconds (the token's exp).")
    revoked = serializers.BooleanField()


class SessionListOut(serializers.Serializer):
    data = SessionRecordOut(many=True, help_text="Unexpired sessions, newest first.")  # type: ignore[assignment]
    next_cursor = serializers.CharField(allow_null=True)


class RevokedData(serializers.Serializer):
    jti = serializers.CharField()
    revoked = serializers.BooleanField()


class RevokedOut(RevokedData):
    data = RevokedData()  # type: ignore[assignment]  # the wire name; DRF pops declared fields


def plan_json(plan: Plan) -> dict[str, Any]:
    return PlanOut(plan).data


def customer_json(customer: EndCustomer) -> dict[str, Any]:
    return CustomerOut(customer).data


def period_json(period: UsagePeriod) -> dict[str, Any]:
    return PeriodOut(period).data


def session_record_json(session: ShopperSession) -> dict[str, Any]:
    return {
        "jti": session.jti,
        "issued_at": int(session.issued_at.timestamp()),
        "expires_at": int(session.expires_at.timestamp()),
        "revoked": session.revoked,
    }


def usage_json(customer: EndCustomer, current: CurrentUsage, history: list[UsagePeriod]) -> dict[str, Any]:
    plan = customer.plan
    ok = customer.status == EndCustomer.Status.ACTIVE and plan is not None and current.used < current.limit
    return {
        "customer_id": customer.public_id,
        "external_id": customer.external_id,
        "plan": {"id": plan.public_id, "name": plan.name, "monthlyTryOns": plan.monthly_try_ons} if plan else None,
        "status": customer.status,
        "period_start": iso_utc(current.period_start),
        "period_end": iso_utc(current.period_end),
        "current": {"used": current.used, "limit": current.limit, "remaining": current.remaining, "ok": ok},
        "history": [period_json(period) for period in history],
    }


# --- input ----------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "pattern": PLAN_ID_PATTERN, "maxLength": 40})
class PlanIdField(StrictCharField):
    """A plan's `pln_` id. Other text is looked up like any id and names no plan of the store:
    403 plan_not_found, as SPEC §6 answers another store's plan, rather than a 400."""


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": METADATA_MAX_KEYS,
        "additionalProperties": {
            "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}],
            "nullable": True,
        },
        "description": f"Your own flat data: at most {METADATA_MAX_KEYS} keys; values strings, numbers, "
        f"booleans or null; at most {METADATA_MAX_BYTES} bytes as compact JSON with non-ASCII characters "
        "escaped (400 metadata_too_large beyond). null clears it.",
    }
)
class MetadataField(serializers.JSONField):
    """Checked by quotas.services.validate_metadata, whose limits the schema above states."""


class PlanIn(serializers.Serializer):
    name = StrictCharField(
        max_length=80,
        validators=[NOT_BLANK],
        error_messages={"blank": NAME_MESSAGE, "max_length": NAME_MESSAGE, "required": NAME_MESSAGE},
        help_text="Unique in the store, ignoring case (disabled plans included): a taken name is a 400 "
        "`invalid_body` with `fieldErrors.name`.",
    )
    monthlyTryOns = StrictIntegerField(
        min_value=1,
        max_value=MAX_MONTHLY_TRY_ONS,
        error_messages={"invalid": QUOTA_MESSAGE, "min_value": QUOTA_MESSAGE, "max_value": QUOTA_MESSAGE},
    )
    externalPriceId = StrictCharField(max_length=200, required=False, allow_blank=True, allow_null=True)
    active = StrictBooleanField(required=False)


class CustomerUpsertIn(serializers.Serializer):
    externalId = StrictCharField(max_length=200, validators=[NOT_BLANK])
    email = serializers.EmailField(required=False, allow_blank=True, allow_null=True, max_length=254)
    planId = PlanIdField(required=False, allow_null=True, max_length=40)
    metadata = MetadataField(required=False, allow_null=True)


class StatusField(serializers.ChoiceField):
    """ACTIVE / PAUSED / CANCELLED; lower case is accepted, as some SDKs send it."""

    def to_internal_value(self, data: Any) -> str:
        return super().to_internal_value(data.upper() if isinstance(data, str) else data)


class CustomerPatchIn(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True, allow_null=True, max_length=254)
    planId = PlanIdField(required=False, allow_null=True, max_length=40)
    status = StatusField(choices=STATUS_CHOICES, required=False)
    metadata = MetadataField(required=False, allow_null=True)
    resetPeriod = StrictBooleanField(required=False, default=False)


class SessionIn(serializers.Serializer):
    expires_in = StrictIntegerField(required=False, help_text="Seconds, clamped to 60–3600; default 900.")
