"""Webhooks in the merchant portal: endpoints, their secrets, test pings and the delivery log.

Every write goes through stores.webhooks.services; these views parse, find the store's own
objects (anything else is 404), call one service and answer, POST-redirect-GET.
"""

import json
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from genvoris.errors import ApiError, ErrorCode
from stores.models import Store
from stores.portal import member_view, render_portal
from stores.services import Actor
from stores.webhooks.forms import DeliveryFilterForm, WebhookEndpointForm
from stores.webhooks.models import WebhookDelivery, WebhookEndpoint
from stores.webhooks.selectors import (
    attempts_of,
    deliveries_of,
    delivery_of,
    webhook_endpoint_of,
    webhook_endpoints_of,
)
from stores.webhooks.services import (
    MAX_ENDPOINTS_PER_STORE,
    TEST_PINGS_PER_MINUTE,
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_secret_rotate,
    webhook_test_send,
)
from stores.webhooks.signing import TOLERANCE_SECONDS
from stores.webhooks.transport import Response
from stores.webhooks.worker import RETRY_DELAYS, envelope

# The one place a new signing secret lives, from the POST that made it to the GET it redirects to.
NEW_SECRET_SESSION = "portal_new_webhook_secret"
DELIVERIES_PER_PAGE = 25
SECTION = "webhooks"


def _in_words(seconds: int) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


# "10 s, 30 s, 2 min, … and 1 h": the schedule as the verification note tells it.
RETRY_SCHEDULE = ", ".join(_in_words(s) for s in RETRY_DELAYS[:-1]) + f" and {_in_words(RETRY_DELAYS[-1])}"


def _actor(request: HttpRequest) -> Actor:
    """The signed-in merchant, for the audit trail (member_view lets no anonymous user through)."""
    return Actor.of_user(cast(User, request.user))


def _endpoint(store: Store, endpoint_id: str) -> WebhookEndpoint:
    endpoint = webhook_endpoint_of(store, endpoint_id)
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def _delivery(endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
    delivery = delivery_of(endpoint, delivery_id)
    if delivery is None:
        raise Http404("No such delivery.")
    return delivery


def _to_endpoint(endpoint: WebhookEndpoint) -> HttpResponse:
    return redirect("portal-webhook", store_id=endpoint.store.public_id, endpoint_id=endpoint.public_id)


def _service_errors(form: WebhookEndpointForm, error: ApiError) -> None:
    """The service's field errors on the form's fields (they share their names)."""
    field_errors = error.extra.get("fieldErrors") or {None: [error.detail]}
    for name, problems in field_errors.items():
        for problem in problems:
            form.add_error(name if name in form.fields else None, problem)


def _reveal(request: HttpRequest, endpoint: WebhookEndpoint, secret: str, *, rotated: bool) -> None:
    # Shown by the next GET of the endpoint's page and dropped from the session there.
    request.session[NEW_SECRET_SESSION] = {"endpoint": endpoint.public_id, "secret": secret, "rotated": rotated}


def _revealed(request: HttpRequest, endpoint: WebhookEndpoint) -> dict[str, Any] | None:
    revealed = request.session.pop(NEW_SECRET_SESSION, None)
    return revealed if revealed and revealed.get("endpoint") == endpoint.public_id else None


def _page(
    request: HttpRequest, template: str, store: Store, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    response = render_portal(request, f"stores/webhooks/{template}", store, SECTION, context)
    response.status_code = status
    return response


def _list_page(request: HttpRequest, store: Store, form: WebhookEndpointForm, status: int = 200) -> HttpResponse:
    context = {"endpoints": webhook_endpoints_of(store), "form": form, "max_endpoints": MAX_ENDPOINTS_PER_STORE}
    return _page(request, "list.html", store, context, status)


@member_view
def webhooks(request: HttpRequest, store: Store) -> HttpResponse:
    return _list_page(request, store, WebhookEndpointForm())


@member_view
@require_POST
def webhook_create(request: HttpRequest, store: Store) -> HttpResponse:
    form = WebhookEndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint, secret = webhook_endpoint_create(store=store, actor=_actor(request), **form.cleaned_data)
        except ApiError as error:
            _service_errors(form, error)
        else:
            _reveal(request, endpoint, secret, rotated=False)
            return _to_endpoint(endpoint)
    return _list_page(request, store, form, status=400)


@member_view
def webhook_detail(request: HttpRequest, store: Store, endpoint_id: str) -> HttpResponse:
    endpoint = _endpoint(store, endpoint_id)
    filters = DeliveryFilterForm(request.GET or None)
    log = deliveries_of(endpoint, **filters.filters())
    context = {
        "endpoint": endpoint,
        "revealed": _revealed(request, endpoint),
        "filters": filters,
        "deliveries": Paginator(log, DELIVERIES_PER_PAGE).get_page(request.GET.get("page")),
        "now": timezone.now(),
        "tolerance": TOLERANCE_SECONDS,
        "retries": RETRY_SCHEDULE,
    }
    return _page(request, "endpoint.html", store, context)


@member_view
def webhook_edit(request: HttpRequest, store: Store, endpoint_id: str) -> HttpResponse:
    endpoint = _endpoint(store, endpoint_id)
    form = WebhookEndpointForm(request.POST) if request.method == "POST" else WebhookEndpointForm.of(endpoint)
    if request.method == "POST" and form.is_valid():
        changes = form.cleaned_data
        if changes["url"].strip() == endpoint.url:
            # Not checked again: a host that does not resolve for a moment must not block a new description.
            changes["url"] = None
        try:
            webhook_endpoint_update(endpoint=endpoint, actor=_actor(request), **changes)
        except ApiError as error:
            _service_errors(form, error)
        else:
            messages.success(request, "Endpoint saved.")
            return _to_endpoint(endpoint)
    return _page(request, "edit.html", store, {"endpoint": endpoint, "form": form}, 400 if form.is_bound else 200)


@member_view
@require_POST
def webhook_disable(request: HttpRequest, store: Store, endpoint_id: str) -> HttpResponse:
    endpoint = webhook_endpoint_update(endpoint=_endpoint(store, endpoint_id), active=False, actor=_actor(request))
    messages.success(
        request,
        "Endpoint disabled. Events that happen while it is disabled are not sent to it; "
        "deliveries already scheduled wait until you enable it again.",
    )
    return _to_endpoint(endpoint)


@member_view
@require_POST
def webhook_enable(request: HttpRequest, store: Store, endpoint_id: str) -> HttpResponse:
    endpoint = webhook_endpoint_update(endpoint=_endpoint(store, endpoint_id), active=True, actor=_actor(request))
    messages.success(request, "Endpoint enabled. New events are delivered to it again.")
    return _to_endpoint(endpoint)


@member_view
def webhook_delete(request: HttpRequest, store: Store, endpoint_id: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes."""
    endpoint = _endpoint(store, endpoint_id)
    if request.method == "POST":
        webhook_endpoint_delete(endpoint=endpoint, actor=_actor(request))
        messages.success(request, f"Endpoint {endpoint.url} deleted, with its delivery log.")
        return redirect("portal-webhooks", store_id=store.public_id)
    open_deliveries = endpoint.deliveries.filter(status__in=WebhookDelivery.OPEN).count()
    return _page(request, "delete.html", store, {"endpoint": endpoint, "open_deliveries": open_deliveries})


@member_view
def webhook_rotate(request: HttpRequest, store: Store, endpoint_id: str) -> HttpResponse:
    """GET asks for confirmation; POST rotates and shows the new secret once."""
    endpoint = _endpoint(store, endpoint_id)
    if request.method == "POST":
        secret = webhook_secret_rotate(endpoint=endpoint, actor=_actor(request))
        _reveal(request, endpoint, secret, rotated=True)
        return _to_endpoint(endpoint)
    return _page(request, "rotate.html", store, {"endpoint": endpoint, "now": timezone.now()})


def _ping_outcome(request: HttpRequest, response: Response) -> None:
    timing = f"in {response.latency_ms} ms"
    if response.ok:
        messages.success(request, f"Test ping delivered: your endpoint answered HTTP {response.status_code} {timing}.")
        return
    answer = f"answered HTTP {response.status_code}" if response.status_code else f"failed: {response.error}"
    messages.error(
        request,
        f"Test ping not delivered: your endpoint {answer} ({timing}). "
        "It is retried on the usual schedule; see the delivery log below.",
    )


@member_view
@require_POST
def webhook_test(request: HttpRequest, store: Store, endpoint_id: str) -> HttpResponse:
    """Send a `webhook.test` event now, while the merchant waits, and tell them what came back."""
    endpoint = _endpoint(store, endpoint_id)
    # Sent to a disabled endpoint too, so a merchant can check their server before enabling it
    # (docs/decisions.md, "Webhooks"); if it fails, its retries wait for the endpoint like any delivery.
    try:
        _, response = webhook_test_send(endpoint=endpoint)
    except ApiError as error:
        if error.code != ErrorCode.RATE_LIMITED:
            raise
        messages.warning(
            request, f"At most {TEST_PINGS_PER_MINUTE} test pings a minute per endpoint; wait a minute and try again."
        )
    else:
        _ping_outcome(request, response)
    return _to_endpoint(endpoint)


@member_view
def delivery_detail(request: HttpRequest, store: Store, endpoint_id: str, delivery_id: str) -> HttpResponse:
    endpoint = _endpoint(store, endpoint_id)
    delivery = _delivery(endpoint, delivery_id)
    body = json.dumps(json.loads(envelope(delivery.event)), indent=2, ensure_ascii=False)
    context = {"endpoint": endpoint, "delivery": delivery, "attempts": attempts_of(delivery), "body": body}
    return _page(request, "delivery.html", store, context)


@member_view
@require_POST
def delivery_resend(request: HttpRequest, store: Store, endpoint_id: str, delivery_id: str) -> HttpResponse:
    delivery = _delivery(_endpoint(store, endpoint_id), delivery_id)
    if webhook_delivery_resend(delivery=delivery):
        messages.success(request, "Delivery queued again with a fresh retry schedule; the worker sends it shortly.")
    else:
        messages.warning(request, f"Only a dead delivery can be resent; this one is {delivery.status}.")
    return redirect(
        "portal-webhook-delivery", store_id=store.public_id, endpoint_id=endpoint_id, delivery_id=delivery_id
    )
