"""Webhooks in the merchant portal (stores/webhooks/views.py): endpoints, secrets shown once, test
pings to a real receiver, the delivery log, resends; and every page refused to an outsider."""

import json
import socket
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, resolve, reverse
from django.utils import timezone

import stores.portal_urls
from conftest import Persona
from stores.models import AuditEntry, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from stores.services import Actor
from stores.tests.receiver import receiving
from stores.webhooks.services import webhook_endpoint_create
from stores.webhooks.signing import verify
from stores.webhooks.worker import deliveries_claim, delivery_attempt, signing_secrets

pytestmark = pytest.mark.django_db
ACTOR = Actor("test")
PUBLIC_URL = "https://93.184.216.34/hooks/genvoris"  # a public address: checked without DNS
Status = WebhookDelivery.Status


@pytest.fixture
def signed_in(client: Client, owner: Persona) -> Client:
    client.force_login(owner.user)
    return client


@pytest.fixture(autouse=True)
def _production_urls(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # whatever the environment says; lifted by private_urls


@pytest.fixture
def private_urls(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


@pytest.fixture
def endpoint(owner: Persona) -> WebhookEndpoint:
    made, _ = webhook_endpoint_create(store=owner.store, url=PUBLIC_URL, events=["tryon.completed"], actor=ACTOR)
    return made


@pytest.fixture
def foreign(outsider: Persona) -> WebhookEndpoint:
    made, _ = webhook_endpoint_create(store=outsider.store, url=PUBLIC_URL, actor=ACTOR)
    return made


def url(name: str, persona: Persona, **kwargs: str) -> str:
    return reverse(name, kwargs={"store_id": persona.store.public_id, **kwargs})


def page_of(name: str, endpoint: WebhookEndpoint, **kwargs: str) -> str:
    return reverse(name, kwargs={"store_id": endpoint.store.public_id, "endpoint_id": endpoint.public_id, **kwargs})


def delivery_page(delivery: WebhookDelivery, resend: bool = False) -> str:
    name = "portal-webhook-delivery-resend" if resend else "portal-webhook-delivery"
    return page_of(name, delivery.endpoint, delivery_id=delivery.public_id)


def make_delivery(
    endpoint: WebhookEndpoint, *, type: str = "tryon.completed", status: str = Status.PENDING, **fields: Any
) -> WebhookDelivery:
    """A delivery made straight in the database, in whatever state a test needs."""
    event = WebhookEvent.objects.create(store=endpoint.store, type=type, data={"n": 1}, dispatched=True)
    return WebhookDelivery.objects.create(endpoint=endpoint, event=event, status=status, **fields)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


class TestList:
    def test_lists_the_store_s_endpoints_with_their_dead_deliveries(
        self, signed_in: Client, owner: Persona, endpoint: WebhookEndpoint, foreign: WebhookEndpoint
    ) -> None:
        make_delivery(endpoint, status=Status.DEAD)
        make_delivery(endpoint, status=Status.SUCCEEDED)
        response = signed_in.get(url("portal-webhooks", owner))
        assert response.status_code == 200
        (listed,) = response.context["endpoints"]
        assert (listed.public_id, listed.dead) == (endpoint.public_id, 1)
        html = response.content.decode()
        assert endpoint.public_id in html
        assert foreign.public_id not in html
        assert "tryon.completed" in html
        assert f"{page_of('portal-webhook', endpoint)}?status=dead" in html
        assert endpoint.secret not in html
        assert 'aria-current="page"' in html
        assert ">Webhooks<" in html

    def test_empty(self, signed_in: Client, owner: Persona) -> None:
        html = signed_in.get(url("portal-webhooks", owner)).content.decode()
        assert "No webhook endpoints yet" in html
        # Both groups of the catalogue, each type described, and "all events" chosen to begin with.
        assert "Older names" in html
        assert "plan.created" in html
        assert "A try-on was debited" in html
        assert 'value="*" id="id_events_0" checked' in html


class TestCreate:
    def test_the_secret_is_shown_once(self, signed_in: Client, owner: Persona) -> None:
        body = {"url": PUBLIC_URL, "description": "Order system", "events": ["plan.created", "tryon.completed"]}
        response = signed_in.post(url("portal-webhook-create", owner), body)
        endpoint = WebhookEndpoint.objects.get(store=owner.store)
        assert response.status_code == 302
        assert response["Location"] == page_of("portal-webhook", endpoint)
        assert (endpoint.url, endpoint.description, endpoint.events, endpoint.active) == (
            PUBLIC_URL,
            "Order system",
            ["tryon.completed", "plan.created"],  # catalogue order
            True,
        )
        audit = AuditEntry.objects.get(store=owner.store, action=AuditEntry.Action.WEBHOOK_CREATED)
        assert (audit.target, audit.actor_user) == (endpoint.public_id, owner.user)

        shown = signed_in.get(response["Location"])
        html = shown.content.decode()
        assert shown.context["revealed"]["secret"] == endpoint.secret
        assert endpoint.secret in html
        assert "X-Genvoris-Signature" in html
        assert "300 seconds" in html
        assert "X-Genvoris-Delivery" in html
        assert "no-store" in shown["Cache-Control"]

        again = signed_in.get(response["Location"])
        assert again.context["revealed"] is None
        assert endpoint.secret not in again.content.decode()

    def test_all_events_wins_over_single_types(self, signed_in: Client, owner: Persona) -> None:
        signed_in.post(url("portal-webhook-create", owner), {"url": PUBLIC_URL, "events": ["*", "tryon.failed"]})
        assert WebhookEndpoint.objects.get(store=owner.store).events == ["*"]

    @pytest.mark.parametrize(
        ("body", "field", "message"),
        [
            ({"url": "http://93.184.216.34/hooks", "events": ["*"]}, "url", "must start with https://"),
            ({"url": "https://127.0.0.1/hooks", "events": ["*"]}, "url", "a loopback address"),
            ({"url": "https://10.0.0.8/hooks", "events": ["*"]}, "url", "a private-network address"),
            ({"url": "", "events": ["*"]}, "url", "required"),
            ({"url": PUBLIC_URL}, "events", "Choose at least one event type"),
            ({"url": PUBLIC_URL, "events": ["order.shipped"]}, "events", "not one of the available choices"),
            ({"url": PUBLIC_URL, "events": ["*"], "description": "x" * 201}, "description", "at most 200"),
        ],
    )
    def test_bad_input_is_shown_on_the_form(
        self, signed_in: Client, owner: Persona, body: dict[str, Any], field: str, message: str
    ) -> None:
        response = signed_in.post(url("portal-webhook-create", owner), body)
        assert response.status_code == 400
        assert message in " ".join(response.context["form"].errors[field])
        assert "Please correct the fields marked below." in response.content.decode()
        assert not WebhookEndpoint.objects.filter(store=owner.store).exists()

    def test_private_urls_are_accepted_when_the_setting_allows_them(
        self, signed_in: Client, owner: Persona, private_urls: None
    ) -> None:
        response = signed_in.post(url("portal-webhook-create", owner), {"url": closed_port_url(), "events": ["*"]})
        assert response.status_code == 302
        assert WebhookEndpoint.objects.filter(store=owner.store).count() == 1


class TestEdit:
    def test_form_is_filled_then_saves(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        form = signed_in.get(page_of("portal-webhook-edit", endpoint)).context["form"]
        assert form.initial == {"url": PUBLIC_URL, "description": "", "events": ["tryon.completed"]}
        body = {"url": "https://93.184.216.35/v2", "description": "New", "events": ["credit.low_balance"]}
        response = signed_in.post(page_of("portal-webhook-edit", endpoint), body)
        assert response["Location"] == page_of("portal-webhook", endpoint)
        secret = endpoint.secret
        endpoint.refresh_from_db()
        assert (endpoint.url, endpoint.description, endpoint.events) == (
            "https://93.184.216.35/v2",
            "New",
            ["credit.low_balance"],
        )
        assert endpoint.secret == secret
        endpoint.store.refresh_from_db()
        assert endpoint.store.webhook_topics == ["credit.low_balance"]
        assert AuditEntry.objects.filter(action=AuditEntry.Action.WEBHOOK_UPDATED, target=endpoint.public_id).exists()

    def test_an_unchanged_url_is_not_checked_again(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        # A name that does not resolve right now (.invalid never does) must not block other changes.
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="https://hooks.shop.invalid/in")
        body = {"url": "https://hooks.shop.invalid/in", "description": "Renamed", "events": ["*"]}
        assert signed_in.post(page_of("portal-webhook-edit", endpoint), body).status_code == 302
        endpoint.refresh_from_db()
        assert (endpoint.url, endpoint.description, endpoint.events) == (
            "https://hooks.shop.invalid/in",
            "Renamed",
            ["*"],
        )
        changed = signed_in.post(page_of("portal-webhook-edit", endpoint), {**body, "url": "https://other.invalid/"})
        assert changed.status_code == 400
        assert "does not resolve" in " ".join(changed.context["form"].errors["url"])

    def test_bad_url_is_refused(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        body = {"url": "https://169.254.169.254/latest", "events": ["*"]}
        response = signed_in.post(page_of("portal-webhook-edit", endpoint), body)
        assert response.status_code == 400
        assert "link-local" in " ".join(response.context["form"].errors["url"])
        endpoint.refresh_from_db()
        assert endpoint.url == PUBLIC_URL


class TestDisableEnable:
    def test_disable_then_enable(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        response = signed_in.post(page_of("portal-webhook-disable", endpoint), follow=True)
        endpoint.refresh_from_db()
        assert endpoint.active is False
        assert "Endpoint disabled" in " ".join(messages_of(response))
        endpoint.store.refresh_from_db()
        assert endpoint.store.webhook_topics == []
        assert "Send test ping" not in response.content.decode()

        signed_in.post(page_of("portal-webhook-enable", endpoint))
        endpoint.refresh_from_db()
        assert endpoint.active is True
        endpoint.store.refresh_from_db()
        assert endpoint.store.webhook_topics == ["tryon.completed"]

    def test_are_post_only(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        assert signed_in.get(page_of("portal-webhook-disable", endpoint)).status_code == 405
        endpoint.refresh_from_db()
        assert endpoint.active


class TestDelete:
    def test_asks_then_deletes(self, signed_in: Client, owner: Persona, endpoint: WebhookEndpoint) -> None:
        make_delivery(endpoint)
        confirm = signed_in.get(page_of("portal-webhook-delete", endpoint))
        assert confirm.status_code == 200
        assert "Delete this endpoint?" in confirm.content.decode()
        assert confirm.context["open_deliveries"] == 1
        assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()

        response = signed_in.post(page_of("portal-webhook-delete", endpoint))
        assert response["Location"] == url("portal-webhooks", owner)
        assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
        assert not WebhookDelivery.objects.filter(endpoint_id=endpoint.pk).exists()
        assert AuditEntry.objects.filter(action=AuditEntry.Action.WEBHOOK_DELETED, target=endpoint.public_id).exists()
        assert signed_in.get(page_of("portal-webhook", endpoint)).status_code == 404


class TestRotate:
    def test_asks_then_shows_the_new_secret_once(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        old = endpoint.secret
        confirm = signed_in.get(page_of("portal-webhook-rotate", endpoint))
        assert confirm.status_code == 200
        assert "Rotate the signing secret?" in confirm.content.decode()
        endpoint.refresh_from_db()
        assert endpoint.secret == old

        response = signed_in.post(page_of("portal-webhook-rotate", endpoint))
        assert response["Location"] == page_of("portal-webhook", endpoint)
        endpoint.refresh_from_db()
        assert endpoint.secret != old
        assert endpoint.previous_secret == old
        assert endpoint.previous_secret_expires_at is not None
        assert endpoint.previous_secret_expires_at > timezone.now() + timedelta(hours=23)
        assert signing_secrets(endpoint, timezone.now()) == [endpoint.secret, old]  # the old one still signs
        audit = AuditEntry.objects.get(action=AuditEntry.Action.WEBHOOK_SECRET_ROTATED, target=endpoint.public_id)
        assert audit.actor_user == endpoint.store.memberships.get().user
        assert audit.detail["previous_valid_until"] == endpoint.previous_secret_expires_at.isoformat()

        shown = signed_in.get(response["Location"])
        assert shown.context["revealed"] == {"endpoint": endpoint.public_id, "secret": endpoint.secret, "rotated": True}
        assert "The previous secret keeps signing beside it" in shown.content.decode()
        again = signed_in.get(response["Location"]).content.decode()
        assert endpoint.secret not in again
        assert "the previous one also signs until" in again

    def test_a_secret_is_shown_only_on_its_own_endpoint_s_page(
        self, signed_in: Client, owner: Persona, endpoint: WebhookEndpoint
    ) -> None:
        other, _ = webhook_endpoint_create(store=owner.store, url=PUBLIC_URL, actor=ACTOR)
        signed_in.post(page_of("portal-webhook-rotate", endpoint))
        endpoint.refresh_from_db()
        assert endpoint.secret not in signed_in.get(page_of("portal-webhook", other)).content.decode()
        assert signed_in.get(page_of("portal-webhook", endpoint)).context["revealed"] is None


@pytest.mark.usefixtures("private_urls")
class TestTestPing:
    def test_success_is_reported_and_logged(self, signed_in: Client, owner: Persona) -> None:
        with receiving() as receiver:
            endpoint, secret = webhook_endpoint_create(store=owner.store, url=receiver.url, actor=ACTOR)
            response = signed_in.post(page_of("portal-webhook-test", endpoint), follow=True)
            (arrived,) = receiver.received
        assert response.redirect_chain == [(page_of("portal-webhook", endpoint), 302)]
        (message,) = messages_of(response)
        assert message.startswith("Test ping delivered: your endpoint answered HTTP 200 in ")
        assert arrived.headers["x-genvoris-event"] == "webhook.test"
        assert verify(arrived.headers["x-genvoris-signature"], arrived.body, secret, now=int(arrived.at))
        (logged,) = response.context["deliveries"]
        assert (logged.event.type, logged.status, logged.attempts, logged.last_status_code) == (
            "webhook.test",
            Status.SUCCEEDED,
            1,
            200,
        )
        assert arrived.headers["x-genvoris-delivery"] == logged.public_id
        assert delivery_page(logged) in response.content.decode()

    def test_an_error_answer_is_reported_and_retried(self, signed_in: Client, owner: Persona) -> None:
        with receiving(fail_first=-1, fail_status=503) as receiver:
            endpoint, _ = webhook_endpoint_create(store=owner.store, url=receiver.url, actor=ACTOR)
            response = signed_in.post(page_of("portal-webhook-test", endpoint), follow=True)
        (message,) = messages_of(response)
        assert "Test ping not delivered: your endpoint answered HTTP 503" in message
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert (delivery.status, delivery.last_status_code) == (Status.FAILED, 503)
        assert delivery.next_attempt_at is not None
        assert "Failed, retrying" in response.content.decode()

    def test_no_answer_is_reported(self, signed_in: Client, owner: Persona) -> None:
        endpoint, _ = webhook_endpoint_create(store=owner.store, url=closed_port_url(), actor=ACTOR)
        response = signed_in.post(page_of("portal-webhook-test", endpoint), follow=True)
        (message,) = messages_of(response)
        assert message.startswith("Test ping not delivered: your endpoint failed: ")
        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert delivery.last_error
        assert delivery.last_error in message

    def test_too_many_is_a_friendly_message(self, signed_in: Client, owner: Persona) -> None:
        with receiving() as receiver:
            endpoint, _ = webhook_endpoint_create(store=owner.store, url=receiver.url, actor=ACTOR)
            for _ in range(6):
                signed_in.post(page_of("portal-webhook-test", endpoint), follow=True)
            response = signed_in.post(page_of("portal-webhook-test", endpoint), follow=True)
            assert len(receiver.received) == 6
        assert response.status_code == 200
        assert messages_of(response) == ["At most 6 test pings a minute per endpoint; wait a minute and try again."]
        assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 6

    @pytest.mark.usefixtures("private_urls")
    def test_a_disabled_endpoint_is_pinged_before_it_is_enabled(self, signed_in: Client, owner: Persona) -> None:
        with receiving() as receiver:
            endpoint, _ = webhook_endpoint_create(store=owner.store, url=receiver.url, actor=ACTOR)
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
            response = signed_in.post(page_of("portal-webhook-test", endpoint), follow=True)
            assert len(receiver.received) == 1
        (message,) = messages_of(response)
        assert message.startswith("Test ping delivered: your endpoint answered HTTP 200")
        assert WebhookDelivery.objects.get(endpoint=endpoint).status == Status.SUCCEEDED


class TestDelivery:
    @pytest.mark.usefixtures("private_urls")
    def test_shows_every_attempt_and_the_envelope(self, signed_in: Client, owner: Persona) -> None:
        with receiving(fail_first=1) as receiver:
            endpoint, _ = webhook_endpoint_create(store=owner.store, url=receiver.url, actor=ACTOR)
            signed_in.post(page_of("portal-webhook-test", endpoint))
            delivery = WebhookDelivery.objects.get(endpoint=endpoint)
            WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            # The retry, as the worker would make it.
            (claim,) = deliveries_claim(now=timezone.now(), limit=5)
            delivery_attempt(claim)
        response = signed_in.get(delivery_page(delivery))
        assert response.status_code == 200
        first, second = response.context["attempts"]
        assert (first.number, first.status_code, second.number, second.status_code) == (1, 500, 2, 200)
        html = response.content.decode()
        assert "Succeeded" in html
        assert "{&quot;ok&quot;: true}" in html  # the response excerpt, escaped
        assert "127.0.0.1" in html
        assert f"{second.latency_ms} ms" in html
        body = json.loads(response.context["body"])
        assert body["id"] == delivery.event.public_id
        assert body["type"] == "webhook.test"
        assert body["data"]["endpointId"] == endpoint.public_id
        assert "  &quot;type&quot;: &quot;webhook.test&quot;" in html  # indented
        assert "Resend delivery" not in html

    def test_a_dead_delivery_is_resent(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        delivery = make_delivery(endpoint, status=Status.DEAD, attempts=9, last_status_code=500)
        WebhookAttempt.objects.create(
            delivery=delivery, number=9, started_at=timezone.now(), finished_at=timezone.now(), status_code=500
        )
        assert "Resend delivery" in signed_in.get(delivery_page(delivery)).content.decode()
        response = signed_in.post(delivery_page(delivery, resend=True), follow=True)
        assert response.redirect_chain == [(delivery_page(delivery), 302)]
        assert "Delivery queued again" in " ".join(messages_of(response))
        delivery.refresh_from_db()
        assert (delivery.status, delivery.resend_base, delivery.attempts) == (Status.PENDING, 9, 9)
        assert delivery.next_attempt_at is not None
        assert delivery.next_attempt_at <= timezone.now()
        assert "Resend delivery" not in response.content.decode()

    def test_resending_a_live_delivery_changes_nothing(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        delivery = make_delivery(endpoint, status=Status.SUCCEEDED, attempts=1, last_status_code=200)
        response = signed_in.post(delivery_page(delivery, resend=True), follow=True)
        assert messages_of(response) == ["Only a dead delivery can be resent; this one is succeeded."]
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.resend_base) == (Status.SUCCEEDED, 1, 0)
        assert delivery.next_attempt_at is None

    def test_resend_is_post_only(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        delivery = make_delivery(endpoint, status=Status.DEAD)
        assert signed_in.get(delivery_page(delivery, resend=True)).status_code == 405
        delivery.refresh_from_db()
        assert delivery.status == Status.DEAD


class TestLog:
    @pytest.fixture
    def log(self, endpoint: WebhookEndpoint) -> dict[str, WebhookDelivery]:
        start = timezone.now() - timedelta(hours=1)
        made = {}
        for n, (name, type_, status) in enumerate(
            [
                ("old_done", "tryon.completed", Status.SUCCEEDED),
                ("dead", "tryon.completed", Status.DEAD),
                ("retrying", "credit.low_balance", Status.FAILED),
                ("ping", "webhook.test", Status.SUCCEEDED),
            ]
        ):
            made[name] = make_delivery(endpoint, type=type_, status=status, created_at=start + timedelta(minutes=n))
        return made

    def shown(self, client: Client, endpoint: WebhookEndpoint, query: str = "") -> list[str]:
        response = client.get(page_of("portal-webhook", endpoint) + query)
        assert response.status_code == 200
        return [d.public_id for d in response.context["deliveries"]]

    def test_newest_first(self, signed_in: Client, endpoint: WebhookEndpoint, log: dict[str, Any]) -> None:
        ids = [log[n].public_id for n in ("ping", "retrying", "dead", "old_done")]
        assert self.shown(signed_in, endpoint) == ids

    def test_filters_narrow_it(self, signed_in: Client, endpoint: WebhookEndpoint, log: dict[str, Any]) -> None:
        by_type = self.shown(signed_in, endpoint, "?event_type=tryon.completed")
        assert by_type == [log["dead"].public_id, log["old_done"].public_id]
        assert self.shown(signed_in, endpoint, "?status=dead") == [log["dead"].public_id]
        assert self.shown(signed_in, endpoint, "?event_type=webhook.test&status=succeeded") == [log["ping"].public_id]
        assert self.shown(signed_in, endpoint, "?event_type=plan.created") == []
        html = signed_in.get(page_of("portal-webhook", endpoint) + "?event_type=plan.created").content.decode()
        assert "No deliveries match these filters" in html

    @pytest.mark.parametrize("query", ["?status=lost", "?event_type=%3Cscript%3E", "?page=abc", "?page=999", "?x=1"])
    def test_odd_values_show_everything(
        self, signed_in: Client, endpoint: WebhookEndpoint, log: dict[str, Any], query: str
    ) -> None:
        assert len(self.shown(signed_in, endpoint, query)) == 4

    def test_an_unknown_filter_value_says_so(
        self, signed_in: Client, endpoint: WebhookEndpoint, log: dict[str, Any]
    ) -> None:
        html = signed_in.get(page_of("portal-webhook", endpoint) + "?status=lost").content.decode()
        assert "A filter value was not recognised and is ignored." in html
        assert "<script>" not in html

    def test_pages_of_25_keep_the_filters(self, signed_in: Client, endpoint: WebhookEndpoint) -> None:
        for _ in range(30):
            make_delivery(endpoint, status=Status.FAILED, next_attempt_at=timezone.now())
        make_delivery(endpoint, status=Status.SUCCEEDED)
        first = signed_in.get(page_of("portal-webhook", endpoint) + "?status=failed")
        assert len(first.context["deliveries"]) == 25
        assert 'href="?status=failed&amp;page=2"' in first.content.decode()
        second = self.shown(signed_in, endpoint, "?status=failed&page=2")
        assert len(second) == 5
        assert WebhookDelivery.objects.get(public_id=second[0]).status == Status.FAILED


def webhook_urls(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> list[tuple[str, str]]:
    """Every webhook page of the portal, with each method it answers."""
    store = endpoint.store.public_id
    return [
        ("get", reverse("portal-webhooks", kwargs={"store_id": store})),
        ("post", reverse("portal-webhook-create", kwargs={"store_id": store})),
        *(
            (method, page_of(name, endpoint))
            for name, methods in [
                ("portal-webhook", ["get"]),
                ("portal-webhook-edit", ["get", "post"]),
                ("portal-webhook-disable", ["post"]),
                ("portal-webhook-enable", ["post"]),
                ("portal-webhook-delete", ["get", "post"]),
                ("portal-webhook-rotate", ["get", "post"]),
                ("portal-webhook-test", ["post"]),
            ]
            for method in methods
        ),
        ("get", delivery_page(delivery)),
        ("post", delivery_page(delivery, resend=True)),
    ]


FORM = {"url": PUBLIC_URL, "events": ["*"], "description": "taken over"}


def test_every_webhook_page_and_post_is_404_for_an_outsider(
    client: Client, outsider: Persona, endpoint: WebhookEndpoint
) -> None:
    delivery = make_delivery(endpoint, status=Status.DEAD)
    secret = endpoint.secret
    client.force_login(outsider.user)
    for method, path in webhook_urls(endpoint, delivery):
        response = getattr(client, method)(path, FORM if method == "post" else None)
        assert response.status_code == 404, (method, path)
    endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert (endpoint.active, endpoint.secret, endpoint.description, endpoint.previous_secret) == (True, secret, "", "")
    assert delivery.status == Status.DEAD
    assert WebhookEndpoint.objects.filter(store=endpoint.store).count() == 1
    assert not WebhookEndpoint.objects.filter(store=outsider.store).exists()
    assert not WebhookEvent.objects.filter(type="webhook.test").exists()


def test_another_store_s_endpoint_or_delivery_under_my_store_is_404(
    signed_in: Client, owner: Persona, endpoint: WebhookEndpoint, foreign: WebhookEndpoint
) -> None:
    theirs = make_delivery(foreign, status=Status.DEAD)
    mine = make_delivery(endpoint, status=Status.DEAD)
    # Their endpoint's id under my store; my endpoint with their delivery's id.
    disguised = WebhookEndpoint(store=owner.store, public_id=foreign.public_id)
    paths = [
        (m, p)
        for m, p in webhook_urls(disguised, WebhookDelivery(endpoint=disguised, public_id=theirs.public_id))
        if foreign.public_id in p
    ]
    paths += [
        ("get", delivery_page(WebhookDelivery(endpoint=endpoint, public_id=theirs.public_id))),
        ("post", delivery_page(WebhookDelivery(endpoint=endpoint, public_id=theirs.public_id), resend=True)),
        ("get", page_of("portal-webhook-delivery", endpoint, delivery_id="whd_01j0000000000000000000000z")),
    ]
    for method, path in paths:
        response = signed_in.post(path, FORM) if method == "post" else signed_in.get(path)
        assert response.status_code == 404, (method, path)
    foreign.refresh_from_db()
    theirs.refresh_from_db()
    assert (foreign.active, foreign.previous_secret, theirs.status) == (True, "", Status.DEAD)
    assert WebhookEndpoint.objects.filter(pk=foreign.pk).exists()
    mine.refresh_from_db()
    assert mine.status == Status.DEAD


def test_ids_that_are_not_ids_are_404(signed_in: Client, owner: Persona) -> None:
    base = url("portal-webhooks", owner)
    for path in [f"{base}/nope", f"{base}/whe_x/edit", f"{base}/../keys/x", f"{base}/whe_01j0000000000000000000000z"]:
        assert signed_in.get(path).status_code == 404, path


def test_every_webhook_page_needs_sign_in(client: Client, endpoint: WebhookEndpoint) -> None:
    for method, path in webhook_urls(endpoint, make_delivery(endpoint)):
        response = getattr(client, method)(path)
        assert response.status_code == 302, (method, path)
        assert response["Location"].startswith("/accounts/login/"), (method, path)


def test_posts_are_csrf_protected(owner: Persona, endpoint: WebhookEndpoint) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner.user)
    for method, path in webhook_urls(endpoint, make_delivery(endpoint, status=Status.DEAD)):
        if method == "post":
            assert client.post(path, FORM).status_code == 403, path
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.previous_secret) == (True, "")
    assert WebhookEndpoint.objects.filter(store=owner.store).count() == 1


def test_every_webhook_route_is_covered_here(endpoint: WebhookEndpoint) -> None:
    names = {
        p.name
        for p in stores.portal_urls.urlpatterns
        if isinstance(p, URLPattern) and p.name and p.name.startswith("portal-webhook")
    }
    covered = {resolve(path).url_name for _, path in webhook_urls(endpoint, make_delivery(endpoint))}
    assert names == covered
