"""Portal pages of this app: the store switcher, API keys, credits and the audit trail."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from genvoris.errors import ApiError
from stores.forms import ApiKeyForm, AuditFilterForm
from stores.models import ApiKey, Store
from stores.portal import member_stores, member_view, render_portal
from stores.selectors import (
    api_keys_of,
    audit_entries_of,
    audit_row,
    credit_packs_of,
    credit_summary,
    key_refusals_of,
    ledger_of,
)
from stores.services import Actor, api_key_create, api_key_revoke

# The one place a new key's plaintext lives, from the create POST to the GET it redirects to.
NEW_KEY_SESSION = "portal_new_api_key"
LEDGER_PER_PAGE = 25
AUDIT_PER_PAGE = 50


@login_required
@never_cache
def portal_home(request: HttpRequest) -> HttpResponse:
    """The store switcher; a merchant with one store goes straight to it."""
    stores = list(member_stores(request.user))
    if len(stores) == 1:
        return redirect("portal-overview", store_id=stores[0].public_id)
    return render(request, "stores/switcher.html", {"member_stores": stores})


def _keys_page(
    request: HttpRequest, store: Store, form: ApiKeyForm, revealed: dict[str, Any] | None = None
) -> HttpResponse:
    context = {
        "keys": api_keys_of(store),
        "refusals": key_refusals_of(store, now=timezone.now()),
        "form": form,
        "revealed": revealed,
    }
    return render_portal(request, "stores/keys.html", store, "keys", context)


@member_view
def keys(request: HttpRequest, store: Store) -> HttpResponse:
    revealed = request.session.pop(NEW_KEY_SESSION, None)
    if revealed and revealed.get("store") != store.public_id:
        revealed = None
    return _keys_page(request, store, ApiKeyForm(), revealed)


@member_view
@require_POST
def key_create(request: HttpRequest, store: Store) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            key, plaintext = api_key_create(store=store, actor=Actor.of_user(request.user), **form.cleaned_data)  # type: ignore[arg-type]
        except ApiError as error:
            for problem in error.extra.get("fieldErrors", {}).get("allowed_domains", [error.detail]):
                form.add_error("allowed_domains", problem)
        else:
            # Shown by the next GET and dropped from the session there: a reload shows it no more.
            request.session[NEW_KEY_SESSION] = {"store": store.public_id, "id": key.public_id, "plaintext": plaintext}
            return redirect("portal-keys", store_id=store.public_id)
    response = _keys_page(request, store, form)
    response.status_code = 400
    return response


@member_view
def key_revoke(request: HttpRequest, store: Store, key_id: str) -> HttpResponse:
    """GET asks for confirmation; POST revokes."""
    key = get_object_or_404(ApiKey, store=store, public_id=key_id)
    if request.method == "POST" and key.active:
        api_key_revoke(key=key, actor=Actor.of_user(request.user))  # type: ignore[arg-type]
        messages.success(request, f"Key {key.prefix}… revoked. Requests with it are refused from now on.")
        return redirect("portal-keys", store_id=store.public_id)
    if not key.active:
        return redirect("portal-keys", store_id=store.public_id)
    return render_portal(request, "stores/key_revoke.html", store, "keys", {"key": key})


@member_view
def credits(request: HttpRequest, store: Store) -> HttpResponse:
    now = timezone.now()
    ledger = Paginator(ledger_of(store), LEDGER_PER_PAGE).get_page(request.GET.get("page"))
    return render_portal(
        request,
        "stores/credits.html",
        store,
        "credits",
        {"credits": credit_summary(store, now=now), "packs": credit_packs_of(store), "ledger": ledger, "now": now},
    )


@member_view
@require_safe
def audit(request: HttpRequest, store: Store) -> HttpResponse:
    """Who changed what in the store, newest first: every member reads it (SPEC §19)."""
    form = AuditFilterForm(request.GET or None)
    page = Paginator(audit_entries_of(store, action=form.action_filter()), AUDIT_PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = [audit_row(entry) for entry in page.object_list]
    response = render_portal(request, "stores/audit.html", store, "audit", {"form": form, "page": page, "rows": rows})
    if form.is_bound and not form.is_valid():
        response.status_code = 400
    return response
