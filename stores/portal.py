"""What every merchant portal page shares: who may see a store, and the page around the content."""

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from genvoris.ids import is_public_id
from genvoris.ratelimit import client_ip
from stores.models import Store

P = ParamSpec("P")
StoreView = Callable[Concatenate[HttpRequest, Store, P], HttpResponseBase]


def member_stores(user: Any) -> QuerySet[Store]:
    """The stores the user reaches through a membership, by name."""
    if not user.is_authenticated:
        return Store.objects.none()
    return Store.objects.filter(memberships__user=user).order_by("name", "pk")


def store_for_member(request: HttpRequest, store_id: str) -> Store:
    """The store if the signed-in user is a member of it; any other store is 404, whether it
    exists or not, so the portal never confirms that an id belongs to someone else."""
    store = member_stores(request.user).filter(public_id=store_id).first() if is_public_id(store_id) else None
    if store is None:
        raise Http404("No such store.")
    return store


def member_view(view: StoreView[P]) -> Callable[..., HttpResponseBase]:
    """A portal page of one store: sign-in required, membership checked, never cached.

    The view receives the store instead of its id, so no page can forget the check.
    """

    @login_required
    @never_cache
    @wraps(view)
    def wrapped(request: HttpRequest, store_id: str, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        return view(request, store_for_member(request, store_id), *args, **kwargs)

    return wrapped


def render_portal(
    request: HttpRequest, template: str, store: Store, section: str, context: dict[str, Any] | None = None
) -> HttpResponse:
    """Render a page in the portal's frame: navigation, store switcher, the store's status."""
    return render(
        request,
        template,
        {"store": store, "section": section, "member_stores": list(member_stores(request.user)), **(context or {})},
    )


def sign_in_client_ip(request: HttpRequest) -> str | None:
    """The address django-axes counts failed sign-ins by: the same one the API's limits use,
    or None when there is none (django-axes stores it in an IP address column)."""
    address = client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
