"""What every merchant portal page shares: who may see a store, and the page around the content."""

import ipaddress
from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec, overload

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from genvoris.ids import is_public_id
from genvoris.ratelimit import client_ip
from stores.models import Membership, Store

P = ParamSpec("P")
StoreView = Callable[Concatenate[HttpRequest, Store, P], HttpResponseBase]


def member_stores(user: Any) -> QuerySet[Store]:
    """The stores the user reaches through a membership, by name."""
    if not user.is_authenticated:
        return Store.objects.none()
    return Store.objects.filter(memberships__user=user).order_by("name", "pk")


def membership_for(request: HttpRequest, store_id: str) -> Membership:
    """The signed-in user's membership of the store, its store joined; any other store is 404,
    whether it exists or not, so the portal never confirms that an id belongs to someone else.
    Staff are no exception: they work from the admin, and the portal shows a store to its team."""
    membership = None
    if request.user.is_authenticated and is_public_id(store_id):
        membership = (
            Membership.objects.select_related("store").filter(user=request.user, store__public_id=store_id).first()
        )
    if membership is None:
        raise Http404("No such store.")
    return membership


def store_for_member(request: HttpRequest, store_id: str) -> Store:
    """The store if the signed-in user is a member of it, else 404 (see membership_for)."""
    return membership_for(request, store_id).store


# The methods that only read: every role may use them. Any other method is a change.
READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.DEVELOPER})


def role_allows(role: str, method: str, *, owner_only: bool = False) -> bool:
    """The one rule of the portal (SPEC §19): an owner may do everything; an owner-only page
    (the team, credits purchases) is closed to everyone else, reading included; elsewhere a
    developer may change things and a viewer may only read."""
    if role == Membership.Role.OWNER:
        return True
    if owner_only:
        return False
    return method in READ_METHODS or role in WRITE_ROLES


def forbidden(request: HttpRequest, store: Store) -> HttpResponse:
    response = render_portal(request, "genvoris/forbidden.html", store, "")
    response.status_code = 403
    return response


@overload
def member_view(view: StoreView[P], /) -> Callable[..., HttpResponseBase]: ...
@overload
def member_view(*, owner_only: bool = False) -> Callable[[StoreView[P]], Callable[..., HttpResponseBase]]: ...
def member_view(view: StoreView[P] | None = None, /, *, owner_only: bool = False) -> Any:
    """A portal page of one store: sign-in required, membership and role checked, never cached.

    `@member_view` lets every member read (GET, HEAD) and only owners and developers change
    anything (every other method); `@member_view(owner_only=True)` lets only owners in at all.
    The view receives the store instead of its id, so no page can forget the check, and the
    page's template gets the member's `role`, `can_write` and `is_owner` to hide what the role
    cannot use (the check here is what counts).
    """

    def decorate(view: StoreView[P]) -> Callable[..., HttpResponseBase]:
        @login_required
        @never_cache
        @wraps(view)
        def wrapped(request: HttpRequest, store_id: str, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            membership = membership_for(request, store_id)
            request.portal_role = membership.role  # type: ignore[attr-defined]
            if not role_allows(membership.role, request.method or "GET", owner_only=owner_only):
                return forbidden(request, membership.store)
            return view(request, membership.store, *args, **kwargs)

        wrapped.owner_only = owner_only  # type: ignore[attr-defined]
        return wrapped

    return decorate(view) if view is not None else decorate


def render_portal(
    request: HttpRequest, template: str, store: Store, section: str, context: dict[str, Any] | None = None
) -> HttpResponse:
    """Render a page in the portal's frame: navigation, store switcher, the store's status, and
    what the signed-in member's role lets them do."""
    role = getattr(request, "portal_role", None)
    return render(
        request,
        template,
        {
            "store": store,
            "section": section,
            "member_stores": list(member_stores(request.user)),
            "role": role,
            "can_write": role in WRITE_ROLES,
            "is_owner": role == Membership.Role.OWNER,
            **(context or {}),
        },
    )


def sign_in_client_ip(request: HttpRequest) -> str | None:
    """The address django-axes counts failed sign-ins by: the same one the API's limits use,
    or None when there is none (django-axes stores it in an IP address column)."""
    address = client_ip(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None
