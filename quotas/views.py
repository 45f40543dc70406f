"""Plans in the merchant portal: list, create, edit, disable and enable, through quotas.services."""

from typing import cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from genvoris.errors import ApiError
from quotas.forms import PlanForm
from quotas.models import Plan
from quotas.selectors import plans_with_customer_counts
from quotas.services import plan_create, plan_deactivate, plan_update
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
@require_POST
def plan_disable(request: HttpRequest, store: Store, plan_id: str) -> HttpResponse:
    plan = plan_deactivate(plan=get_object_or_404(Plan, store=store, public_id=plan_id), actor=_actor(request))
    messages.success(request, f"Plan “{plan.name}” disabled. Its customers keep their quota; nobody new can join it.")
    return redirect("portal-plans", store_id=store.public_id)


@member_view
@require_POST
def plan_enable(request: HttpRequest, store: Store, plan_id: str) -> HttpResponse:
    plan = plan_update(plan=get_object_or_404(Plan, store=store, public_id=plan_id), active=True, actor=_actor(request))
    messages.success(request, f"Plan “{plan.name}” enabled again.")
    return redirect("portal-plans", store_id=store.public_id)
