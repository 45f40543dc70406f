"""/api/v1 for merchants' servers (SPEC §5, §6): plans, customers, usage, sessions."""

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genvoris.api import error_responses, json_object, validated
from genvoris.errors import ApiError, ErrorCode, invalid_field
from genvoris.ids import public_id_pattern
from genvoris.pagination import page_limit, page_parameters
from quotas import serializers as s
from quotas.models import EndCustomer, Plan
from quotas.selectors import (
    CURSOR_PATTERN,
    SESSION_CURSOR_PATTERN,
    current_usage,
    end_customer_of,
    end_customers_page,
    plan_of,
    plans_of,
    sessions_page,
    usage_periods_of,
)
from quotas.services import (
    UNSET,
    end_customer_cancel,
    end_customer_update,
    end_customer_upsert,
    plan_create,
    plan_deactivate,
    plan_update,
)
from quotas.sessions import DEFAULT_EXPIRES_IN, JTI_TAIL_PATTERN, jwks, session_mint, session_revoke
from stores.auth import StoreApiView, StoreKeyRateThrottle
from stores.models import Store

PAGE_LIMIT_MAX, PAGE_LIMIT_DEFAULT = 200, 50
# A customer rarely has more than a few live sessions; a page of 100 lists nearly all at once, and
# a busy integration minting per page view pages through the rest.
SESSION_PAGE_MAX, SESSION_PAGE_DEFAULT = 200, 100

# The path, query and body bounds the views enforce, stated in the schema, so that a client
# generated from it never sends what the server refuses (genvoris/tests/test_schema.py).
PLAN_ID = OpenApiParameter(
    "plan_id",
    {"type": "string", "pattern": s.PLAN_ID_PATTERN},
    OpenApiParameter.PATH,
    description="The plan's `pln_` id; any other text is 404.",
)
CUSTOMER_ID = OpenApiParameter(
    "customer_id",
    # An externalId is at most 200 characters, an `ec_` id fewer: a longer segment names nobody.
    {"type": "string", "minLength": 1, "maxLength": 200},
    OpenApiParameter.PATH,
    description="The customer's `ec_` id or its externalId.",
)
JTI = OpenApiParameter(
    "jti",
    {"type": "string", "pattern": f"^{public_id_pattern('ec')}-{JTI_TAIL_PATTERN}$"},
    OpenApiParameter.PATH,
    description="The token's `jti` claim, `{ec id}-{iat}-{random}`; a jti of another customer is 404.",
)
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no", ""}


class CustomerCreateThrottle(StoreKeyRateThrottle):
    scope = "customer_create"


class SessionMintThrottle(StoreKeyRateThrottle):
    scope = "session_mint"


def _flag(request: Request, *names: str) -> bool:
    for name in names:
        value = request.query_params.get(name)
        if value is not None:
            if value.lower() not in _TRUE | _FALSE:
                raise invalid_field(name, "Must be true or false.")
            return value.lower() in _TRUE
    return False


def _plan_for_assignment(store: Store, plan_id: str | None) -> Plan | None:
    """A planId a customer may be put on: this store's, else 403 plan_not_found."""
    if plan_id is None:
        return None
    plan = Plan.objects.filter(store=store, public_id=plan_id).first()
    if plan is None:
        raise ApiError(ErrorCode.PLAN_NOT_FOUND, "No plan with that planId in this store.", detail=f"planId {plan_id}")
    return plan


# --- plans ----------------------------------------------------------------------------------


class PlanListView(StoreApiView):
    @extend_schema(
        operation_id="plans_list",
        parameters=[
            OpenApiParameter("include_inactive", bool, description="Also list disabled plans."),
            OpenApiParameter("includeInactive", bool, description="Alias of include_inactive."),
        ],
        responses={200: s.PlanListOut, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        include_inactive = _flag(request, "include_inactive", "includeInactive")
        return Response({"data": [s.plan_json(p) for p in plans_of(self.store, include_inactive=include_inactive)]})

    @extend_schema(
        operation_id="plans_create", request=s.PlanIn, responses={201: s.PlanOut, **error_responses(400, 403)}
    )
    def post(self, request: Request) -> Response:
        data = validated(s.PlanIn, json_object(request))
        plan = plan_create(
            store=self.store,
            name=data["name"],
            monthly_try_ons=data["monthlyTryOns"],
            external_price_id=data.get("externalPriceId") or "",
            active=data.get("active", True),
            actor=self.actor,
        )
        return Response(s.plan_json(plan), status=201)


class PlanDetailView(StoreApiView):
    @extend_schema(
        operation_id="plans_retrieve", parameters=[PLAN_ID], responses={200: s.PlanOut, **error_responses(403, 404)}
    )
    def get(self, request: Request, plan_id: str) -> Response:
        return Response(s.plan_json(plan_of(self.store, plan_id)))

    @extend_schema(
        operation_id="plans_update",
        parameters=[PLAN_ID],
        request=s.PlanIn(partial=True),
        responses={200: s.PlanOut, **error_responses(400, 403, 404)},
        description="A new monthlyTryOns applies from each customer's next period.",
    )
    def patch(self, request: Request, plan_id: str) -> Response:
        plan = plan_of(self.store, plan_id)
        data = validated(s.PlanIn, json_object(request), partial=True)
        plan = plan_update(
            plan=plan,
            name=data.get("name"),
            monthly_try_ons=data.get("monthlyTryOns"),
            external_price_id=(data.get("externalPriceId") or "") if "externalPriceId" in data else None,
            active=data.get("active"),
            actor=self.actor,
        )
        return Response(s.plan_json(plan))

    @extend_schema(
        operation_id="plans_destroy",
        parameters=[PLAN_ID],
        responses={204: None, **error_responses(403, 404)},
        description="Soft delete: the plan is disabled; customers on it keep their quota.",
    )
    def delete(self, request: Request, plan_id: str) -> Response:
        plan_deactivate(plan=plan_of(self.store, plan_id), actor=self.actor)
        return Response(status=204)


# --- customers ------------------------------------------------------------------------------


class CustomerListView(StoreApiView):
    def get_throttles(self) -> list[Any]:
        return [CustomerCreateThrottle()] if self.request.method == "POST" else []

    @extend_schema(
        operation_id="customers_list",
        parameters=[
            OpenApiParameter("status", str, enum=s.STATUS_CHOICES),
            *page_parameters(
                "Customers", maximum=PAGE_LIMIT_MAX, default=PAGE_LIMIT_DEFAULT, cursor_pattern=CURSOR_PATTERN
            ),
        ],
        responses={200: s.CustomerPageOut, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request, maximum=PAGE_LIMIT_MAX, default=PAGE_LIMIT_DEFAULT)
        status = request.query_params.get("status") or None
        if status is not None and status.upper() not in s.STATUS_CHOICES:
            raise invalid_field("status", "Must be ACTIVE, PAUSED or CANCELLED.")
        page = end_customers_page(
            self.store,
            status=status.upper() if status else None,
            limit=limit,
            cursor=request.query_params.get("cursor") or None,
        )
        return Response({"data": [s.customer_json(c) for c in page.customers], "next_cursor": page.next_cursor})

    @extend_schema(
        operation_id="customers_upsert",
        request=s.CustomerUpsertIn,
        responses={201: s.CustomerOut, 200: s.CustomerOut, **error_responses(400, 403, 429)},
        description="Creates the customer (201) or updates the one with this externalId (200). The running "
        "period is kept unless it has ended or the plan changes.",
    )
    def post(self, request: Request) -> Response:
        data = validated(s.CustomerUpsertIn, json_object(request))
        customer, created = end_customer_upsert(
            store=self.store,
            external_id=data["externalId"],
            email=data.get("email") or ("" if "email" in data else None),
            plan=_plan_for_assignment(self.store, data["planId"]) if "planId" in data else UNSET,
            metadata=data.get("metadata", UNSET),
            now=timezone.now(),
            actor=self.actor,
        )
        return Response(s.customer_json(customer), status=201 if created else 200)


def _detail_json(customer: EndCustomer) -> dict[str, Any]:
    return {
        **s.customer_json(customer),
        "plan": s.plan_json(customer.plan) if customer.plan else None,
        "usage": [s.period_json(p) for p in usage_periods_of(customer, count=12)],
    }


class CustomerDetailView(StoreApiView):
    @extend_schema(
        operation_id="customers_retrieve",
        parameters=[CUSTOMER_ID],
        responses={200: s.CustomerDetailOut, **error_responses(403, 404)},
    )
    def get(self, request: Request, customer_id: str) -> Response:
        return Response(_detail_json(end_customer_of(self.store, customer_id)))

    @extend_schema(
        operation_id="customers_update",
        parameters=[CUSTOMER_ID],
        request=s.CustomerPatchIn,
        responses={200: s.CustomerDetailOut, **error_responses(400, 403, 404)},
        description="planId null detaches the plan; a new plan or resetPeriod starts a fresh period now.",
    )
    def patch(self, request: Request, customer_id: str) -> Response:
        customer = end_customer_of(self.store, customer_id)
        data = validated(s.CustomerPatchIn, json_object(request))
        customer = end_customer_update(
            customer=customer,
            email=data.get("email") or ("" if "email" in data else None),
            plan=_plan_for_assignment(self.store, data["planId"]) if "planId" in data else UNSET,
            status=data.get("status"),
            metadata=data.get("metadata", UNSET),
            reset_period=data["resetPeriod"],
            now=timezone.now(),
            actor=self.actor,
        )
        return Response(_detail_json(customer))

    @extend_schema(
        operation_id="customers_destroy",
        parameters=[CUSTOMER_ID],
        responses={204: None, **error_responses(403, 404)},
        description="Soft cancel: the customer's history stays; try-ons are refused with reason cancelled.",
    )
    def delete(self, request: Request, customer_id: str) -> Response:
        end_customer_cancel(customer=end_customer_of(self.store, customer_id), now=timezone.now(), actor=self.actor)
        return Response(status=204)


class CustomerUsageView(StoreApiView):
    @extend_schema(
        operation_id="customers_usage",
        parameters=[CUSTOMER_ID],
        responses={200: s.UsageOut, **error_responses(403, 404)},
    )
    def get(self, request: Request, customer_id: str) -> Response:
        customer = end_customer_of(self.store, customer_id)
        current = current_usage(customer, timezone.now())
        return Response({"data": s.usage_json(customer, current, usage_periods_of(customer, count=24))})


# --- sessions -------------------------------------------------------------------------------


class SessionsView(StoreApiView):
    def get_throttles(self) -> list[Any]:
        return [SessionMintThrottle()] if self.request.method == "POST" else []

    @extend_schema(
        operation_id="sessions_list",
        parameters=[
            CUSTOMER_ID,
            *page_parameters(
                "Sessions",
                maximum=SESSION_PAGE_MAX,
                default=SESSION_PAGE_DEFAULT,
                cursor_pattern=SESSION_CURSOR_PATTERN,
            ),
        ],
        responses={200: s.SessionListOut, **error_responses(400, 403, 404)},
        description="The customer's unexpired sessions, newest first, revoked ones included. Tokens themselves "
        "are never stored, so never returned.",
    )
    def get(self, request: Request, customer_id: str) -> Response:
        customer = end_customer_of(self.store, customer_id)
        limit = page_limit(request, maximum=SESSION_PAGE_MAX, default=SESSION_PAGE_DEFAULT)
        page = sessions_page(
            customer, now=timezone.now(), limit=limit, cursor=request.query_params.get("cursor") or None
        )
        return Response({"data": [s.session_record_json(x) for x in page.sessions], "next_cursor": page.next_cursor})

    @extend_schema(
        operation_id="sessions_create",
        parameters=[CUSTOMER_ID],
        request=s.SessionIn,
        responses={200: s.SessionOut, **error_responses(400, 403, 404, 429)},
        description="Mints a session JWT for the shopper's browser (the widget's data-end-customer-token) "
        "and records the session (its jti, never the token).",
    )
    def post(self, request: Request, customer_id: str) -> Response:
        customer = end_customer_of(self.store, customer_id)
        data = validated(s.SessionIn, json_object(request))
        minted = session_mint(customer=customer, expires_in=data.get("expires_in", DEFAULT_EXPIRES_IN))
        current = current_usage(customer, timezone.now())
        plan = customer.plan
        return Response(
            {
                "token": minted.token,
                "token_type": "Bearer",
                "expires_in": minted.expires_in,
                "expires_at": minted.expires_at,
                "customer": {
                    "id": customer.public_id,
                    "external_id": customer.external_id,
                    "plan_id": plan.public_id if plan else None,
                    "plan_name": plan.name if plan else None,
                    "monthly_try_ons": plan.monthly_try_ons if plan else None,
                    "period_start": s.iso_utc(current.period_start),
                    "period_end": s.iso_utc(current.period_end),
                },
            }
        )


class SessionRevokeView(StoreApiView):
    @extend_schema(
        operation_id="sessions_revoke",
        parameters=[CUSTOMER_ID, JTI],
        responses={200: s.RevokedOut, **error_responses(403, 404)},
        description="Revokes one minted token; revoking it again is the same. The token then fails at the track "
        "endpoint. A jti never minted for this customer is 404.",
    )
    def delete(self, request: Request, customer_id: str, jti: str) -> Response:
        revoked = session_revoke(customer=end_customer_of(self.store, customer_id), jti=jti)
        body = {"jti": revoked.jti, "revoked": True}
        return Response({**body, "data": body})


class JwksView(APIView):
    """The public keys that verify session tokens (RFC 7517)."""

    @extend_schema(operation_id="jwks", auth=[], responses={200: dict})
    def get(self, request: Request) -> Response:
        response = Response(jwks())
        response["Cache-Control"] = "public, max-age=3600"
        return response
