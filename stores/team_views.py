"""The portal's Team page (owners only): members and their roles, invites, role changes, removal."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from stores.accounts import TeamError, member_invite, member_remove, member_role_change, pending
from stores.models import Membership, Store
from stores.portal import member_view, render_portal
from stores.services import Actor

ROLE_HELP = {
    Membership.Role.OWNER: "Everything, the team and credits included.",
    Membership.Role.DEVELOPER: "API keys, webhooks, integration, plans and customers; not the team or credits.",
    Membership.Role.VIEWER: "Reads every page, changes nothing.",
}


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=150)
    role = forms.ChoiceField(label="Role", choices=Membership.Role.choices, initial=Membership.Role.DEVELOPER)


def _actor(request: HttpRequest) -> Actor:
    return Actor.of_user(request.user)  # type: ignore[arg-type]


def _page(request: HttpRequest, store: Store, form: InviteForm, status: int = 200) -> HttpResponse:
    members = [
        {"membership": m, "pending": pending(m.user)}
        for m in store.memberships.select_related("user").order_by("created_at", "pk")
    ]
    context = {"members": members, "form": form, "roles": Membership.Role.choices, "role_help": ROLE_HELP}
    response = render_portal(request, "stores/team.html", store, "team", context)
    response.status_code = status
    return response


@member_view(owner_only=True)
def team(request: HttpRequest, store: Store) -> HttpResponse:
    return _page(request, store, InviteForm())


@member_view(owner_only=True)
@require_POST
def member_invite_view(request: HttpRequest, store: Store) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            member_invite(
                store=store,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                actor=_actor(request),
                base_url=request.build_absolute_uri("/"),
            )
        except TeamError as error:
            form.add_error("email", str(error))
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email'].lower()}.")
            return redirect("portal-team", store_id=store.public_id)
    return _page(request, store, form, status=400)


@member_view(owner_only=True)
@require_POST
def member_role_view(request: HttpRequest, store: Store, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), store=store, pk=membership_id)
    try:
        member_role_change(membership=membership, role=request.POST.get("role", ""), actor=_actor(request))
    except TeamError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"{membership.user.email} is now {membership.get_role_display().lower()}.")
    return redirect("portal-team", store_id=store.public_id)


@member_view(owner_only=True)
@require_POST
def member_remove_view(request: HttpRequest, store: Store, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership.objects.select_related("user"), store=store, pk=membership_id)
    email = membership.user.email
    try:
        member_remove(membership=membership, actor=_actor(request))
    except TeamError as error:
        messages.error(request, str(error))
        return redirect("portal-team", store_id=store.public_id)
    messages.success(request, f"{email} no longer has access to this store.")
    if membership.user_id == request.user.pk:
        return redirect("portal")
    return redirect("portal-team", store_id=store.public_id)
