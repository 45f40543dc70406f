"""Support staff's console for merchants' plans and end-customers (SPEC §10).

Saves and actions call quotas.services with the staff user as the actor, so every plan change,
status change and period reset lands in the store's audit trail.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from genvoris.admin import RECENT_ROWS, ReadOnlyInline, add_service_errors, status_badge, store_column
from genvoris.errors import ApiError
from quotas.models import EndCustomer, Plan, UsagePeriod
from quotas.services import (
    MAX_MONTHLY_TRY_ONS,
    UNSET,
    end_customer_period_restart,
    end_customer_update,
    plan_create,
    plan_name_check,
    plan_update,
    validate_metadata,
)
from stores.services import Actor


def _staff(request: HttpRequest) -> Actor:
    return Actor.of_user(request.user)  # type: ignore[arg-type]


def _adopt(obj: Model, saved: Model) -> None:
    """Make the admin's object the row the service wrote, for the redirect and the admin log."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# --- plans ---------------------------------------------------------------------------------------


class PlanForm(forms.ModelForm):
    monthly_try_ons = forms.IntegerField(
        min_value=1, max_value=MAX_MONTHLY_TRY_ONS, help_text="A new quota applies from each customer's next period."
    )

    class Meta:
        model = Plan
        fields = ["store", "name", "monthly_try_ons", "external_price_id", "active"]
        help_texts = {"active": "A disabled plan keeps its customers but takes no new ones."}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        store = data.get("store") or (self.instance.store if self.instance.pk else None)
        if store is not None and data.get("name"):
            try:
                plan_name_check(store=store, name=data["name"], plan=self.instance if self.instance.pk else None)
            except ApiError as error:
                add_service_errors(self, error)
        return data

    def validate_unique(self) -> None:
        """clean() refuses a taken name in words; the constraint's own message would name
        quotas_plan_store_name_unique, and on the change form (store read-only) Django skips it."""


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    form = PlanForm
    list_display = ["name", "public_id", store_column, "monthly_try_ons", "active", "external_price_id", "updated_at"]
    list_filter = ["active"]
    list_select_related = ["store"]
    search_fields = ["name", "=public_id", "store__name", "=store__public_id", "external_price_id"]
    ordering = ["-created_at"]
    autocomplete_fields = ["store"]
    readonly_fields = ["public_id", "created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: Plan | None = None) -> tuple[str, ...]:
        fields = ("store", "name", "monthly_try_ons", "external_price_id", "active")
        return fields if obj is None else ("public_id", *fields, "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Plan | None = None) -> tuple[str, ...]:
        # A plan never moves to another store: its customers and their usage belong to this one.
        return tuple(self.readonly_fields) if obj is None else (*self.readonly_fields, "store")

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # disabling is soft (untick Active): customers on the plan keep their quota

    def save_model(self, request: HttpRequest, obj: Plan, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            plan = plan_create(
                store=data["store"],
                name=data["name"],
                monthly_try_ons=data["monthly_try_ons"],
                external_price_id=data["external_price_id"],
                active=data["active"],
                actor=_staff(request),
            )
        else:
            # The form has already copied its values onto `obj`; the service compares with the row.
            changed = {f: data[f] for f in form.changed_data if f in PlanForm.Meta.fields and f != "store"}
            plan = plan_update(plan=Plan.objects.get(pk=obj.pk), actor=_staff(request), **changed)
        _adopt(obj, plan)


# --- end-customers -------------------------------------------------------------------------------


class UsagePeriodInline(ReadOnlyInline):
    model = UsagePeriod
    fields = readonly_fields = ("period_start", "period_end", "used", "limit", "remaining")
    ordering = ["-period_start"]
    verbose_name_plural = f"Usage periods (newest {RECENT_ROWS})"


class EndCustomerForm(forms.ModelForm):
    class Meta:
        model = EndCustomer
        fields = ["email", "plan", "status", "metadata"]
        help_texts = {
            "plan": "A new plan starts a fresh period now, with the new plan's quota.",
            "metadata": "A flat JSON object for the merchant's own use: at most 20 keys, 4 KB, scalar values.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only this store's plans, and no disabled plan unless the customer is already on it.
        self.fields["plan"].queryset = Plan.objects.filter(  # type: ignore[attr-defined]
            Q(active=True) | Q(pk=self.instance.plan_id), store_id=self.instance.store_id
        ).order_by("name")

    def clean_metadata(self) -> dict[str, Any]:
        try:
            return validate_metadata(self.cleaned_data["metadata"])
        except ApiError as error:
            raise forms.ValidationError(error.extra["fieldErrors"]["metadata"]) from error


def _with_current_usage(queryset: QuerySet[EndCustomer]) -> QuerySet[EndCustomer]:
    """The used/limit of each customer's running period: one lookup per row on the unique
    (customer, period_start) index, never a join over every period."""
    current = UsagePeriod.objects.filter(customer=OuterRef("pk"), period_start=OuterRef("period_start"))
    return queryset.annotate(
        current_used=Subquery(current.values("used")[:1]), current_limit=Subquery(current.values("limit")[:1])
    )


@admin.register(EndCustomer)
class EndCustomerAdmin(admin.ModelAdmin):
    form = EndCustomerForm
    list_display = ["external_id", "public_id", store_column, "email", "plan", "status_display", "usage", "period_end"]
    list_filter = ["status", "store"]
    list_select_related = ["store", "plan"]
    search_fields = ["external_id", "email", "=public_id", "store__name", "=store__public_id"]
    search_help_text = "Search by external id, email, customer id (ec_…) or store."
    ordering = ["-created_at"]
    actions = ["pause_customers", "cancel_customers", "reactivate_customers", "reset_periods"]
    fieldsets = [
        (None, {"fields": ["public_id", "store", "external_id", "email", "plan", "status", "metadata"]}),
        ("Current period", {"fields": ["period_start", "period_end", "usage"]}),
        ("Record", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = [
        "public_id",
        "store",
        "external_id",
        "period_start",
        "period_end",
        "usage",
        "created_at",
        "updated_at",
    ]
    inlines = [UsagePeriodInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EndCustomer]:
        return _with_current_usage(super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # merchants register their shoppers through the API

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # cancel instead: the history stays

    @admin.display(description="Status", ordering="status")
    def status_display(self, customer: EndCustomer) -> str:
        return status_badge(customer.status, customer.get_status_display())

    @admin.display(description="This period")
    def usage(self, customer: EndCustomer) -> str:
        used, limit = getattr(customer, "current_used", None), getattr(customer, "current_limit", None)
        if limit is None:
            return "no plan" if customer.plan_id is None else "—"
        full = " gv-usage-full" if used >= limit else ""
        return format_html('<span class="gv-usage{}">{} / {}</span>', full, f"{used:,}", f"{limit:,}")

    def save_model(self, request: HttpRequest, obj: EndCustomer, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        changes: dict[str, Any] = {f: data[f] for f in form.changed_data if f in ("email", "status", "metadata")}
        changes["plan"] = data["plan"] if "plan" in form.changed_data else UNSET
        # The form has already copied its values onto `obj`; the service compares with the row.
        customer = end_customer_update(
            customer=EndCustomer.objects.select_related("plan").get(pk=obj.pk),
            now=timezone.now(),
            actor=_staff(request),
            **changes,
        )
        _adopt(obj, customer)

    # --- actions

    def _set_status(self, request: HttpRequest, queryset: QuerySet[EndCustomer], status: str, verb: str) -> None:
        now, actor = timezone.now(), _staff(request)
        customers = list(queryset.select_related("plan"))
        moving = [c for c in customers if c.status != status]
        for customer in moving:
            end_customer_update(customer=customer, status=status, now=now, actor=actor)
            self.log_change(request, customer, f"{verb}.")  # the admin's "Recent actions"
        if moving:
            self.message_user(request, f"{verb} {_plural(len(moving), 'customer')}.", messages.SUCCESS)
        if len(moving) < len(customers):
            already = _plural(len(customers) - len(moving), "customer")
            self.message_user(request, f"{already} already {status.lower()}; left as they were.", messages.WARNING)

    @admin.action(description="Pause selected customers", permissions=["change"])
    def pause_customers(self, request: HttpRequest, queryset: QuerySet[EndCustomer]) -> None:
        self._set_status(request, queryset, EndCustomer.Status.PAUSED, "Paused")

    @admin.action(description="Cancel selected customers", permissions=["change"])
    def cancel_customers(self, request: HttpRequest, queryset: QuerySet[EndCustomer]) -> None:
        self._set_status(request, queryset, EndCustomer.Status.CANCELLED, "Cancelled")

    @admin.action(description="Reactivate selected customers", permissions=["change"])
    def reactivate_customers(self, request: HttpRequest, queryset: QuerySet[EndCustomer]) -> None:
        self._set_status(request, queryset, EndCustomer.Status.ACTIVE, "Reactivated")

    @admin.action(
        description="Reset the period of selected customers (start a fresh quota now)", permissions=["change"]
    )
    def reset_periods(self, request: HttpRequest, queryset: QuerySet[EndCustomer]) -> None:
        now, actor = timezone.now(), _staff(request)
        customers = list(queryset.select_related("plan"))
        for customer in customers:
            end_customer_period_restart(customer=customer, now=now, actor=actor)
            self.log_change(request, customer, "Started a fresh period.")
        self.message_user(
            request, f"Started a fresh period for {_plural(len(customers), 'customer')}.", messages.SUCCESS
        )
