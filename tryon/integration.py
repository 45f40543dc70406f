"""The portal's Integration page (SPEC §17): the store's exact snippet (its publishable key, the
pinned widget URL and its SRI hash), the button designer with a live preview, the settings of a
try-on backend, and "send a test try-on", which runs the reference flow in-process for real.

The test try-on is what a shopper's try-on is: the sample photo and product through the
configured generator, then the track service (or TRYON_TRACK_URL) with the store's publishable
key, in legacy mode. It debits one real credit, which the merchant confirms first; a reload of
the answer cannot debit twice (the form's one-time token is the Idempotency-Key, and is spent).
"""

import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import escape

from genvoris import ratelimit
from genvoris.errors import ApiError, ErrorCode
from genvoris.ratelimit import client_ip
from stores.models import ApiKey, Store
from stores.portal import member_view, render_portal
from stores.selectors import button_design_json, button_design_of, publishable_keys_of
from stores.services import Actor, button_design_update
from tryon import backend
from tryon.forms import ButtonDesignForm
from tryon.images import open_image
from tryon.widget import widget_bundle

logger = logging.getLogger("genvoris.tryon.integration")

SECTION = "integration"
DEMO_DIR = Path(__file__).resolve().parent / "static" / "tryon" / "demo"
SAMPLE_PHOTO = DEMO_DIR / "sample-shopper.jpg"
SAMPLE_PRODUCT = DEMO_DIR / "linen-shirt.png"
TEST_TITLE = "Test try-on from the portal"
TEST_TRYONS_PER_MINUTE = 5
# The one-time tokens of test forms already sent, newest last, so a reload cannot send one again.
SENT_TESTS_SESSION = "portal_sent_test_tryons"
SENT_TESTS_KEPT = 20
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{24}$")

# The widget's own icons (ICONS in tryon/static/tryon/widget.js; a test keeps the two equal), so
# the preview shows exactly what the widget draws.
ICONS = {
    "camera": "M4 8h3l2-3h6l2 3h3v11H4zM8.5 13a3.5 3.5 0 1 0 7 0a3.5 3.5 0 1 0-7 0",
    "sparkles": "M11 3l1.8 5.2L18 10l-5.2 1.8L11 17l-1.8-5.2L4 10l5.2-1.8zM19 14l.8 2.2 2.2.8-2.2.8L19 20l-.8-2.2L16 "
    "17l2.2-.8z",
    "shirt": "M8 3L3 6l2 4 3-1.5V21h8V8.5l3 1.5 2-4-5-3c-.5 1.5-2 2.5-4 2.5S8.5 4.5 8 3z",
    "eye": "M2 12s3.5-7 10-7 10 7 10 7-3.5 7-10 7S2 12 2 12zM9 12a3 3 0 1 0 6 0a3 3 0 1 0-6 0",
    "wand": "M3 21L15 9m-2-2l4 4M18 2v4M16 4h4M20 9v2M19 10h2",
}


def _actor(request: HttpRequest) -> Actor:
    return Actor.of_user(cast(User, request.user))


# --- what the page shows ------------------------------------------------------------------------


@dataclass(frozen=True)
class Install:
    """Everything a merchant copies: the snippets for the chosen key and this server's URLs."""

    keys: list[ApiKey]  # usable publishable keys, newest first
    key: ApiKey | None  # the one in the snippets: readable (made since keys are kept), chosen or newest
    version: str
    widget_url: str
    integrity: str
    generate_url: str
    track_url: str
    api_url: str
    internal_secrets: int  # how many x-internal-secret values this server accepts (never which)

    @property
    def unreadable_keys(self) -> list[ApiKey]:
        """Publishable keys made before their value was kept: they work, but cannot be printed."""
        return [key for key in self.keys if not key.public_value]

    def snippet(self, label: str, *, token: bool) -> str:
        api_key = self.key.public_value if self.key else "gvk_pub_…"
        lines = [
            '<button class="genvoris-tryon-btn" data-product-image="https://your-shop.example/images/product.jpg"',
            '        data-product-title="Product name">',
            f"  {escape(label)}",
            "</button>",
            "<script",
            f'  src="{self.widget_url}"',
            f'  integrity="{self.integrity}"',
            '  crossorigin="anonymous"',
            "  defer",
            f'  data-api-key="{api_key}"',
        ]
        if token:
            lines.append('  data-end-customer-token="<%= sessionToken %>"')
        return "\n".join([*lines, "></script>"])

    def backend_settings(self) -> str:
        return "\n".join(
            [
                "# Where your try-on backend reports each try-on (POST, JSON)",
                f"TRYON_TRACK_URL={self.track_url}",
                "# Sent as the x-internal-secret header: the value of this server's TRYON_INTERNAL_SECRET,",
                "# which Genvoris gives you; it is never shown in the portal",
                "TRYON_INTERNAL_SECRET=",
                "# The REST API, with a secret key (Authorization: Bearer gvk_live_…)",
                f"GENVORIS_API_URL={self.api_url}",
            ]
        )


def install_of(request: HttpRequest, store: Store) -> Install:
    keys = publishable_keys_of(store)
    chosen = request.GET.get("key") or request.POST.get("key") or ""
    readable = [key for key in keys if key.public_value]
    key = next((k for k in readable if k.public_id == chosen), readable[0] if readable else None)
    bundle = widget_bundle()
    absolute = request.build_absolute_uri
    return Install(
        keys=keys,
        key=key,
        version=bundle.version,
        widget_url=absolute(reverse("tryon-widget-pinned", args=[bundle.version])),
        integrity=bundle.sha384,
        generate_url=absolute(reverse("tryon-generate")),
        track_url=absolute(reverse("tryon-track")),
        api_url=absolute("/api/v1"),
        internal_secrets=len(settings.TRYON_INTERNAL_SECRET),
    )


def _page(
    request: HttpRequest, store: Store, form: ButtonDesignForm, design: dict[str, Any], status: int = 200
) -> HttpResponse:
    install = install_of(request, store)
    context = {
        "install": install,
        "form": form,
        "design": design,
        "icons": ICONS,
        "snippet_guest": install.snippet(design["label"], token=False),
        "snippet_member": install.snippet(design["label"], token=True),
        "balance": store.credit_balance,
    }
    response = render_portal(request, "tryon/integration.html", store, SECTION, context)
    response.status_code = status
    return response


@member_view
def integration(request: HttpRequest, store: Store) -> HttpResponse:
    """GET shows the page; POST saves the button design (all its fields, as the form has them)."""
    saved = button_design_json(button_design_of(store))
    if request.method != "POST":
        return _page(request, store, ButtonDesignForm(initial=saved), saved)
    form = ButtonDesignForm(request.POST)
    if form.is_valid():
        try:
            button_design_update(store=store, values=form.cleaned_data, actor=_actor(request))
        except ApiError as error:
            for name, problems in error.extra.get("fieldErrors", {"": [error.detail]}).items():
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
        else:
            messages.success(request, "Button design saved. Pages with the widget show it within a minute.")
            return redirect("portal-integration", store_id=store.public_id)
    # The preview shows what was typed, where it can: a value that did not pass keeps the saved one.
    shown = {**saved, **{k: v for k, v in form.cleaned_data.items() if k in saved}} if form.is_bound else saved
    return _page(request, store, form, shown, status=400)


# --- send a test try-on ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleOutcome:
    balance: int
    image: str | None = None  # the result, a data: URL
    generation_time_ms: int | None = None
    # True: one credit was debited; False: nothing was; None: the outcome could not be confirmed.
    charged: bool | None = False
    error: ApiError | None = None


def reported_origin(key: ApiKey, own_origin: str) -> str:
    """The Origin the test is reported with. A key with an allowlist only takes its own domains,
    so the test is sent as from the first of them (the page says so); else from this portal."""
    if not key.allowed_domains:
        return own_origin
    entry = key.allowed_domains[0]
    return f"https://{'www.' + entry[2:] if entry.startswith('*.') else entry}"


def sample_tryon_send(*, key: ApiKey, origin: str, page_url: str, token: str, ip: str) -> SampleOutcome:
    """One try-on through the reference backend's steps: generate, then account (in-process, or
    over HTTP to TRYON_TRACK_URL), with this form's token as the Idempotency-Key."""
    store = key.store
    backend.check_configured()
    photo = open_image(SAMPLE_PHOTO.read_bytes(), field="photo")
    product = open_image(SAMPLE_PRODUCT.read_bytes(), field="product_image")
    fields = {"api_key": key.public_value, "product_category": "", "page_url": page_url, "product_title": TEST_TITLE}
    report = backend.track_body({**fields, "end_customer_token": ""}, origin=origin)
    idempotency_key = f"portal-test-{token}"
    started = time.monotonic()
    try:
        images = [backend.data_url(image) for image in backend.run_generator(photo, product, report)]
    except Exception:
        logger.exception("the generator failed on a portal test try-on")
        backend.report_failure(report, idempotency_key, started, ip)
        failed = ApiError(ErrorCode.UNAVAILABLE, "The image generator failed; the try-on was reported as failed.")
        return SampleOutcome(balance=_balance(store), error=failed)
    elapsed = int((time.monotonic() - started) * 1000)
    report.update(variation_count=len(images), generation_time_ms=elapsed, success=True)
    try:
        accounted = backend.account(report, idempotency_key, ip)
    except ApiError as refused:
        charged = None if refused.extra.get("outcome") == "unknown" else False
        return SampleOutcome(balance=_balance(store), charged=charged, error=refused)
    return SampleOutcome(
        balance=int(accounted["remaining_credits"]), image=images[0], generation_time_ms=elapsed, charged=True
    )


def _balance(store: Store) -> int:
    store.refresh_from_db(fields=["credit_balance"])
    return store.credit_balance


def _test_page(request: HttpRequest, store: Store, context: dict[str, Any], status: int = 200) -> HttpResponse:
    install = install_of(request, store)
    own_origin = request.build_absolute_uri("/").rstrip("/")
    context = {
        "install": install,
        "origin": reported_origin(install.key, own_origin) if install.key else own_origin,
        "balance": store.credit_balance,
        "title": TEST_TITLE,
        **context,
    }
    response = render_portal(request, "tryon/integration_test.html", store, SECTION, context)
    response.status_code = status
    return response


def _spend_token(request: HttpRequest, token: str) -> bool:
    """Mark the form's token sent; False if it was already (a reload, a second click)."""
    sent = list(request.session.get(SENT_TESTS_SESSION, []))
    if token in sent:
        return False
    request.session[SENT_TESTS_SESSION] = [*sent, token][-SENT_TESTS_KEPT:]
    return True


@member_view
def integration_test(request: HttpRequest, store: Store) -> HttpResponse:
    """GET asks for confirmation (it costs a credit); POST sends the try-on and shows its result."""
    back = redirect("portal-integration", store_id=store.public_id)
    install = install_of(request, store)
    if request.method != "POST":
        return _test_page(request, store, {"token": secrets.token_urlsafe(18)})
    token = request.POST.get("token", "")
    if install.key is None or install.key.public_id != request.POST.get("key") or not _TOKEN.match(token):
        messages.warning(request, "That test form is out of date: the key it named is gone. Nothing was sent.")
        return back
    if not _spend_token(request, token):
        messages.info(request, "That test try-on was already sent; its result is on the Events page.")
        return back
    counted = ratelimit.hit(f"portal-test-tryon:{store.pk}", TEST_TRYONS_PER_MINUTE, 60)
    if counted is not None and counted.over_limit:
        messages.warning(request, f"At most {TEST_TRYONS_PER_MINUTE} test try-ons a minute. Nothing was sent.")
        return back
    key = install.key
    key.store = store
    own_origin = request.build_absolute_uri("/").rstrip("/")
    try:
        outcome = sample_tryon_send(
            key=key,
            origin=reported_origin(key, own_origin),
            page_url=request.build_absolute_uri(reverse("portal-integration", args=[store.public_id])),
            token=token,
            ip=client_ip(request),
        )
    except ApiError as error:  # not configured: nothing was generated or reported
        outcome = SampleOutcome(balance=_balance(store), error=error)
    return _test_page(request, store, {"outcome": outcome}, status=200)
