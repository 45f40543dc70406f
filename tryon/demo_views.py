"""/demo/: a storefront that embeds widget.js exactly as the published snippet shows.

Two product pages: one in legacy mode (no shopper token: the store's credits only) and one in
per-customer mode (a session token minted here, server-side, for the demo shopper on the
3-try-on plan, so the quota message is one click away). Every page shows the store's credits and
the shopper's usage, and updates them when the widget reports a try-on; product pages also show
what the reference backend's status answers for the page's key and token, before and after.

The shopper can be paused and resumed from the page. A paused shopper stays paused: the page never
falls back to legacy mode, which would quietly spend the store's credits. It carries the token the
visitor was given while the shopper was active (kept in a cookie until it expires), as a signed-in
shopper's page would after their plan was paused, so the widget says "paused" before a photo is
picked. A visitor who never got one is told why there is no try-on, and how to resume.
"""

from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from genvoris.errors import ApiError
from quotas.models import EndCustomer
from quotas.selectors import current_usage
from quotas.services import end_customer_period_restart, end_customer_update
from quotas.sessions import MAX_EXPIRES_IN, session_mint, session_verify
from stores.models import Store
from tryon.demo import Demo, demo_find
from tryon.widget import widget_bundle

TOKEN_COOKIE = "gv_demo_token"


@dataclass(frozen=True)
class Product:
    slug: str
    title: str
    price: str
    image: str  # a static file of this project
    blurb: str
    member: bool  # per-customer mode: the page carries the demo shopper's session token


PRODUCTS = (
    Product(
        slug="wrap-dress",
        title="Black Wrap Dress",
        price="€89",
        image="tryon/demo/wrap-dress.png",
        blurb="A fluid wrap dress with flutter sleeves and a tie waist. Anyone can try it on: this page "
        "runs the widget in legacy mode, and each try-on spends one of the store's credits.",
        member=False,
    ),
    Product(
        slug="linen-shirt",
        title="Sand Linen Shirt",
        price="€59",
        image="tryon/demo/linen-shirt.png",
        blurb="Washed linen, relaxed fit, one chest pocket. Members only: this page is signed in as the "
        "demo shopper, whose plan allows 3 try-ons a month. After the third, the widget says so before a "
        "photo is picked.",
        member=True,
    ),
)


def _product(slug: str) -> Product:
    for product in PRODUCTS:
        if product.slug == slug:
            return product
    raise Http404("No such demo product.")


@require_safe
def demo_index(request: HttpRequest) -> HttpResponse:
    demo = demo_find()
    return render(request, "tryon/demo.html", {"demo": demo, "products": PRODUCTS, **_figures(demo)})


@require_safe
def demo_product(request: HttpRequest, slug: str) -> HttpResponse:
    product = _product(slug)
    demo = demo_find()
    context: dict[str, Any] = {"demo": demo, "product": product, "products": PRODUCTS, **_figures(demo)}
    minted = None
    if demo is not None:
        context["widget_src"] = request.build_absolute_uri(reverse("tryon-widget"))
        context["widget_version"] = widget_bundle().version
        if product.member:
            minted = _minted_token(demo)
            context["token"] = minted or _kept_token(request, demo)
    response = render(request, "tryon/demo_product.html", context)
    if minted:
        # The token a signed-in shopper's page holds, kept until it expires: pausing the shopper
        # later leaves it to the server to refuse, as on a real store.
        response.set_cookie(
            TOKEN_COOKIE,
            minted,
            max_age=MAX_EXPIRES_IN,
            path="/demo/",
            secure=request.is_secure(),
            httponly=True,
            samesite="Lax",
        )
    return response


@require_safe
def demo_stats(request: HttpRequest) -> JsonResponse:
    demo = demo_find()
    if demo is None:
        return JsonResponse({"seeded": False})
    figures = _figures(demo)
    return JsonResponse({"seeded": True, "credits": figures["credits"], "shopper": figures["shopper"]})


@require_POST
def demo_reset_shopper(request: HttpRequest) -> HttpResponse:
    """Start the demo shopper's period afresh, so a visitor can run into the quota again."""
    demo = demo_find()
    if demo is not None:
        end_customer_period_restart(customer=demo.customer, now=timezone.now())
    return _back(request.POST)


@require_POST
def demo_shopper_status(request: HttpRequest) -> HttpResponse:
    """Pause or resume the demo shopper, through the service the API and the portal use."""
    demo = demo_find()
    status = request.POST.get("status", "")
    if demo is not None and status in (EndCustomer.Status.ACTIVE, EndCustomer.Status.PAUSED):
        end_customer_update(customer=demo.customer, now=timezone.now(), status=status)
    return _back(request.POST)


def _back(form: QueryDict) -> HttpResponse:
    back = form.get("next", "")
    return redirect(back if back.startswith("/demo/") and "//" not in back else "demo")


def _minted_token(demo: Demo) -> str:
    """A fresh session token for an active shopper; none for a paused or cancelled one."""
    if demo.customer.status != EndCustomer.Status.ACTIVE:
        return ""
    return session_mint(customer=demo.customer, expires_in=MAX_EXPIRES_IN).token


def _kept_token(request: HttpRequest, demo: Demo) -> str:
    """The visitor's earlier token, if it is still valid and the demo shopper's."""
    token = request.COOKIES.get(TOKEN_COOKIE, "")
    if not token:
        return ""
    try:
        claims = session_verify(token)
    except ApiError:
        return ""
    return token if claims.sub == demo.customer.public_id else ""


def _figures(demo: Demo | None) -> dict[str, Any]:
    if demo is None:
        return {}
    usage = current_usage(demo.customer, timezone.now())
    credits = Store.objects.values_list("credit_balance", flat=True).get(pk=demo.store.pk)
    return {
        "credits": credits,
        "shopper": {
            "external_id": demo.customer.external_id,
            "plan": demo.customer.plan.name if demo.customer.plan else None,
            "status": demo.customer.status,
            "used": usage.used,
            "limit": usage.limit,
            "remaining": usage.remaining,
        },
    }
