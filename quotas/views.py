"""Plans in the merchant portal (list, create, edit, disable, enable) and the actions of a
customer's detail page (pause, resume, change plan, reset period), through quotas.services: the
same services the API calls. The detail page itself is tryon's: it shows the customer's events."""

from datetime import datetime
from typing import cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from genvoris.errors import ApiError
from quotas.forms import PlanForm
from quotas.models import EndCustomer, Plan
from quotas.selectors import plans_with_customer_counts
from quotas.services import (
    end_customer_period_reset,
    end_customer_plan_set,
    end_customer_status_set,
    plan_create,
    plan_deactivate,
    plan_update,
)
from stores.models import Store
from stores.portal import member_view, render_portal
from stores.services import Actor

# The services name fields as the API does; the form names them in snake case.
_FORM_FIELDS = {"monthlyTryOns": "monthly_try_ons", "externalPriceId": "external_price_id"}


def _actor(request: HttpRequest) -> Actor:
    """The signed-in merchant, for the audit trail (member_view lets no anonymous user through)."""
    return Actor.of_user(cast(User, request.user))


def _plans_page(request: HttpRequest, store: Store, form: PlanForm, status: int = 200) -> HttpResponse:
    context = {"plans": plans_with_customer_counts(store), "form": form}
    response = render_portal(request, "quotas/plans.html", store, "plans", context)
    response.status_code = status
    return response


def _service_errors(form: PlanForm, error: ApiError) -> None:
    for name, problems in error.extra.get("fieldErrors", {}).items():
        field = _FORM_FIELDS.get(name, name)
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)


@member_view
def plans(request: HttpRequest, store: Store) -> HttpResponse:
    if request.method != "POST":
        return _plans_page(request, store, PlanForm())
    form = PlanForm(request.POST)
    if form.is_valid():
        try:
            plan = plan_create(store=store, actor=_actor(request), **form.cleaned_data)
        except ApiError as error:
            _service_errors(form, error)
        else:
            messages.success(request, f"Plan “{plan.name}” created.")
            return redirect("portal-plans", store_id=store.public_id)
    return _plans_page(request, store, form, status=400)


@member_view
def plan_edit(request: HttpRequest, store: Store, plan_id: str) -> HttpResponse:
    plan = get_object_or_404(Plan, store=store, public_id=plan_id)
    form = PlanForm(request.POST) if request.method == "POST" else PlanForm.of(plan)
    if request.method == "POST" and form.is_valid():
        try:
            plan_update(plan=plan, actor=_actor(request), **form.cleaned_data)
        except ApiError as error:
            _service_errors(form, error)
        else:
            messages.success(
                request, f"Plan “{plan.name}” saved. A new quota applies from each customer's next period."
            )
            return redirect("portal-plans", store_id=store.public_id)
    response = render_portal(request, "quotas/plan_edit.html", store, "plans", {"plan": plan, "form": form})
    response.status_code = 400 if form.is_bound else 200
    return response


@member_view
def plan_disable(request: HttpRequest, store: Store, plan_id: str) -> HttpResponse:
    """GET asks for confirmation (a page, not a script: the CSP allows none inline); POST
    disables. Disabling a disabled plan changes nothing, so a second submission is harmless."""
    plan = get_object_or_404(Plan, store=store, public_id=plan_id)
    if request.method != "POST":
        if not plan.active:
            return redirect("portal-plans", store_id=store.public_id)
        context = {"plan": plan, "customer_count": plan.customers.count()}
        return render_portal(request, "quotas/plan_disable.html", store, "plans", context)
    plan = plan_deactivate(plan=plan, actor=_actor(request))
    messages.success(request, f"Plan “{plan.name}” disabled. Its customers keep their quota; nobody new can join it.")
    return redirect("portal-plans", store_id=store.public_id)


@member_view
@require_POST
def plan_enable(request: HttpRequest, store: Store, plan_id: str) -> HttpResponse:
    plan = plan_update(plan=get_object_or_404(Plan, store=store, public_id=plan_id), active=True, actor=_actor(request))
    messages.success(request, f"Plan “{plan.name}” enabled again.")
    return redirect("portal-plans", store_id=store.public_id)


# --- a customer's actions (the detail page is tryon.views.customer) --------------------------


def _customer(store: Store, customer_id: str) -> EndCustomer:
    """The store's customer; another store's id is 404, like an id that names nobody."""
    return get_object_or_404(EndCustomer, store=store, public_id=customer_id)


def _to_customer(store: Store, customer: EndCustomer) -> HttpResponse:
    return redirect("portal-customer", store_id=store.public_id, customer_id=customer.public_id)


_STATUS_ACTIONS = {
    # action: (the status it sets, what the merchant is told when it did, when it already was)
    "pause": (EndCustomer.Status.PAUSED, "paused: its try-ons are refused", "paused"),
    "resume": (EndCustomer.Status.ACTIVE, "resumed: its try-ons count again", "active"),
}


def _status_action(request: HttpRequest, store: Store, customer_id: str, action: str) -> HttpResponse:
    customer = _customer(store, customer_id)
    target, done, already = _STATUS_ACTIONS[action]
    if customer.status == EndCustomer.Status.CANCELLED:
        messages.error(request, f"Customer {customer.external_id} is cancelled; a cancelled customer stays so.")
    elif end_customer_status_set(customer=customer, status=target, now=timezone.now(), actor=_actor(request)):
        messages.success(request, f"Customer {customer.external_id} {done}.")
    else:
        messages.info(request, f"Customer {customer.external_id} is already {already}; nothing changed.")
    return _to_customer(store, customer)


@member_view
@require_POST
def customer_pause(request: HttpRequest, store: Store, customer_id: str) -> HttpResponse:
    return _status_action(request, store, customer_id, "pause")


@member_view
@require_POST
def customer_resume(request: HttpRequest, store: Store, customer_id: str) -> HttpResponse:
    return _status_action(request, store, customer_id, "resume")


@member_view
@require_POST
def customer_plan(request: HttpRequest, store: Store, customer_id: str) -> HttpResponse:
    customer = _customer(store, customer_id)
    plan = Plan.objects.filter(store=store, public_id=request.POST.get("plan", ""), active=True).first()
    if plan is None:
        messages.error(request, "Choose one of this store’s active plans.")
        return _to_customer(store, customer)
    try:
        changed = end_customer_plan_set(customer=customer, plan=plan, now=timezone.now(), actor=_actor(request))
    except ApiError as error:  # disabled while the form was open
        messages.error(request, error.message)
        return _to_customer(store, customer)
    if changed:
        messages.success(request, f"Customer {customer.external_id} moved to “{plan.name}”: a fresh period starts now.")
    else:
        messages.info(request, f"Customer {customer.external_id} is already on “{plan.name}”; nothing changed.")
    return _to_customer(store, customer)


def _seen_period_start(request: HttpRequest) -> datetime | None:
    try:
        return datetime.fromisoformat(request.POST.get("period_start", ""))
    except ValueError:
        return None


@member_view
def customer_reset(request: HttpRequest, store: Store, customer_id: str) -> HttpResponse:
    """GET asks for confirmation (no script: the CSP allows none inline); POST resets the period
    the confirmation showed, so a second submission of the same form changes nothing."""
    customer = _customer(store, customer_id)
    if request.method != "POST":
        return render_portal(request, "quotas/customer_reset.html", store, "customers", {"customer": customer})
    seen = _seen_period_start(request)
    if seen is not None and end_customer_period_reset(
        customer=customer, period_start=seen, now=timezone.now(), actor=_actor(request)
    ):
        messages.success(request, f"Period of {customer.external_id} reset: a fresh period with a full quota.")
    else:
        messages.info(request, f"The period of {customer.external_id} was already reset; nothing changed.")
    return _to_customer(store, customer)
