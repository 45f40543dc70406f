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

The loop closes here too (issue 12): "Add to bag" and a fake checkout report ADDED_TO_CART,
CHECKOUT_STARTED and the order through the funnel services, in-process (never an HTTP call to this
server), with the widget's visit id (cookie `gv_sid`) as the session: an order from a visit that
tried the product on is attributed "hard", and the portal's Analytics page shows it.
"""

import secrets
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_POST, require_safe

from genvoris.errors import ApiError
from quotas.models import EndCustomer
from quotas.selectors import current_usage
from quotas.services import end_customer_period_restart, end_customer_update
from quotas.sessions import MAX_EXPIRES_IN, session_mint, session_verify
from stores.models import Store
from tryon.demo import Demo, demo_find
from tryon.models import Conversion, WidgetEvent
from tryon.selectors import conversion_by_order
from tryon.services.funnel import FunnelEvent, Order, conversion_record, widget_events_record
from tryon.services.report import WIDGET_SESSION_ID
from tryon.widget import widget_bundle

TOKEN_COOKIE = "gv_demo_token"
BAG_COOKIE = "gv_demo_bag"
BAG_SALT = "genvoris.demo.bag"
BAG_MAX_QUANTITY = 9  # per product: the bag is a demo, not a wholesale order
PLATFORM = "genvoris-demo"
CURRENCY = "EUR"


@dataclass(frozen=True)
class Product:
    slug: str
    title: str
    price_cents: int
    image: str  # a static file of this project
    width: int  # the image's, in the page: the browser reserves its box before it loads (no CLS)
    height: int
    blurb: str
    member: bool  # per-customer mode: the page carries the demo shopper's session token

    @property
    def price(self) -> str:
        return euros(self.price_cents)


def euros(cents: int) -> str:
    return f"€{cents // 100}" if cents % 100 == 0 else f"€{cents / 100:.2f}"


PRODUCTS = (
    Product(
        slug="wrap-dress",
        title="Black Wrap Dress",
        price_cents=8900,
        image="tryon/demo/wrap-dress.png",
        width=600,
        height=760,
        blurb="A fluid wrap dress with flutter sleeves and a tie waist. Anyone can try it on: this page "
        "runs the widget in legacy mode, and each try-on spends one of the store's credits.",
        member=False,
    ),
    Product(
        slug="linen-shirt",
        title="Sand Linen Shirt",
        price_cents=5900,
        image="tryon/demo/linen-shirt.png",
        width=600,
        height=720,
        blurb="Washed linen, relaxed fit, one chest pocket. Members only: this page is signed in as the "
        "demo shopper, whose plan allows 3 try-ons a month. After the third, the widget says so before a "
        "photo is picked.",
        member=True,
    ),
)


def _product(slug: str) -> Product:
    product = _product_or_none(slug)
    if product is None:
        raise Http404("No such demo product.")
    return product


def _product_or_none(slug: str) -> Product | None:
    return next((product for product in PRODUCTS if product.slug == slug), None)


@gzip_page  # docs/decisions.md: compressed, BREACH considered
@require_safe
def demo_index(request: HttpRequest) -> HttpResponse:
    demo = demo_find()
    return render(request, "tryon/demo.html", {"demo": demo, "products": PRODUCTS, **_figures(demo)})


@gzip_page  # docs/decisions.md: compressed, BREACH considered
@require_safe
def demo_product(request: HttpRequest, slug: str) -> HttpResponse:
    product = _product(slug)
    demo = demo_find()
    context: dict[str, Any] = {
        "demo": demo,
        "product": product,
        "products": PRODUCTS,
        "in_bag": sum(_bag(request).values()),
        **_figures(demo),
    }
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


# --- the bag and the fake checkout ---------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    product: Product
    quantity: int

    @property
    def cents(self) -> int:
        return self.product.price_cents * self.quantity

    @property
    def total(self) -> str:
        return euros(self.cents)


def _bag(request: HttpRequest) -> dict[str, int]:
    """{slug: quantity} from the signed bag cookie; anything unreadable is an empty bag."""
    raw = request.get_signed_cookie(BAG_COOKIE, default="", salt=BAG_SALT)
    bag: dict[str, int] = {}
    for item in raw.split(",") if raw else []:
        slug, _, quantity = item.partition(":")
        if _product_or_none(slug) is not None and quantity.isdigit():
            bag[slug] = min(BAG_MAX_QUANTITY, max(1, int(quantity)))
    return bag


def _lines(bag: dict[str, int]) -> list[Line]:
    return [Line(product, bag[product.slug]) for product in PRODUCTS if product.slug in bag]


def _keep_bag(request: HttpRequest, response: HttpResponse, bag: dict[str, int]) -> HttpResponse:
    if not bag:
        response.delete_cookie(BAG_COOKIE, path="/demo/", samesite="Lax")
        return response
    value = ",".join(f"{slug}:{quantity}" for slug, quantity in bag.items())
    response.set_signed_cookie(
        BAG_COOKIE, value, salt=BAG_SALT, path="/demo/", secure=request.is_secure(), httponly=True, samesite="Lax"
    )
    return response


def _visit(request: HttpRequest) -> str:
    """The widget's visit id (SPEC §16), from the first-party cookie widget.js sets; "" if none."""
    sid = request.COOKIES.get("gv_sid", "")
    return sid if WIDGET_SESSION_ID.match(sid) else ""


def _report(demo: Demo, request: HttpRequest, event_type: str, lines: list[Line]) -> None:
    """The store's own funnel events, as its backend would send them with the secret key: one per
    product, in the visit the widget opened. A visit without a widget id has no funnel to join."""
    sid = _visit(request)
    if not sid:
        return
    page_url = request.build_absolute_uri(request.headers.get("Referer", "") or request.path)[:2048]
    events = [
        FunnelEvent(
            session_id=sid,
            event_type=event_type,
            product_id=line.product.slug,
            product_title=line.product.title,
            page_url=page_url,
            metadata={"quantity": line.quantity},
        )
        for line in lines
    ]
    widget_events_record(store=demo.store, events=events, now=timezone.now())


@require_POST
def demo_bag_add(request: HttpRequest) -> HttpResponse:
    demo = demo_find()
    product = _product_or_none(request.POST.get("product", ""))
    if demo is None or product is None:
        return redirect("demo")
    bag = _bag(request)
    bag[product.slug] = min(BAG_MAX_QUANTITY, bag.get(product.slug, 0) + 1)
    _report(demo, request, WidgetEvent.Type.ADDED_TO_CART, [Line(product, 1)])
    return _keep_bag(request, redirect("demo-bag"), bag)


@require_POST
def demo_bag_remove(request: HttpRequest) -> HttpResponse:
    bag = _bag(request)
    bag.pop(request.POST.get("product", ""), None)
    return _keep_bag(request, redirect("demo-bag"), bag)


@gzip_page  # docs/decisions.md: compressed, BREACH considered
@require_safe
def demo_bag(request: HttpRequest) -> HttpResponse:
    demo = demo_find()
    lines = _lines(_bag(request))
    context = {
        "demo": demo,
        "products": PRODUCTS,
        "lines": lines,
        "total": euros(sum(line.cents for line in lines)),
        "visit": _visit(request),
        **_figures(demo),
    }
    return render(request, "tryon/demo_bag.html", context)


@require_POST
def demo_checkout(request: HttpRequest) -> HttpResponse:
    """The fake checkout: CHECKOUT_STARTED, then the order as POST /api/v1/conversions records it."""
    demo = demo_find()
    lines = _lines(_bag(request))
    if demo is None or not lines:
        return redirect("demo-bag")
    _report(demo, request, WidgetEvent.Type.CHECKOUT_STARTED, lines)
    single = lines[0].product if len(lines) == 1 else None
    order = Order(
        platform=PLATFORM,
        order_id=f"demo-{secrets.token_hex(6)}",
        amount_cents=sum(line.cents for line in lines),
        currency=CURRENCY,
        quantity=sum(line.quantity for line in lines),
        product_id=single.slug if single else "",
        product_title=" + ".join(line.product.title for line in lines)[:300],
        session_id=_visit(request),
        customer_email=demo.customer.email if any(line.product.member for line in lines) else "",
    )
    conversion_record(store=demo.store, order=order, now=timezone.now())
    return _keep_bag(request, redirect("demo-order", order_id=order.order_id), {})


@gzip_page  # docs/decisions.md: compressed, BREACH considered
@require_safe
def demo_order(request: HttpRequest, order_id: str) -> HttpResponse:
    demo = demo_find()
    conversion = conversion_by_order(demo.store, PLATFORM, order_id) if demo else None
    if conversion is None:
        raise Http404("No such demo order.")
    context = {
        "demo": demo,
        "products": PRODUCTS,
        "order": conversion,
        "amount": euros(conversion.amount_cents),
        "hard": conversion.attribution == Conversion.Attribution.HARD,
        **_figures(demo),
    }
    return render(request, "tryon/demo_order.html", context)


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
