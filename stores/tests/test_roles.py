"""Roles in the portal (SPEC §19, stores/portal.py member_view): one persona per role against
every portal page, read (GET) and write (POST). The pages are found by walking the portal's URL
modules, so a page added later is covered without touching this file, or fails it loudly if its
URL needs an object this file cannot make."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

import quotas.portal_urls
import stores.portal_urls
import tryon.portal_urls
from conftest import Persona, make_member
from stores.models import Membership, WebhookDelivery, WebhookEvent
from stores.portal import role_allows
from stores.services import Actor
from stores.tests.factories import UserFactory
from stores.webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.django_db
Role = Membership.Role
PERSONAS = ("owner", "developer", "viewer", "outsider", "staff", "anonymous")


@pytest.fixture(autouse=True)
def _private_urls(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the endpoint below is a closed local port


def portal_patterns() -> Iterator[URLPattern]:
    def walk(patterns: list[Any]) -> Iterator[URLPattern]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns)
            else:
                yield entry

    for module in (stores.portal_urls, quotas.portal_urls, tryon.portal_urls):
        yield from walk(module.urlpatterns)


PATTERNS = list(portal_patterns())
NAMES = [pattern.name for pattern in PATTERNS]


def arguments(owner: Persona) -> dict[str, Callable[[], str]]:
    """How to fill each URL argument with an object of the owner's store, made on demand."""
    made: dict[str, Any] = {}

    def endpoint() -> Any:
        if "endpoint" not in made:
            # A closed local port: a test ping is refused at once, never sent anywhere.
            made["endpoint"], _ = webhook_endpoint_create(
                store=owner.store, url="http://127.0.0.1:9/hook", events=["tryon.completed"], actor=Actor("test")
            )
        return made["endpoint"]

    def delivery() -> Any:
        event = WebhookEvent.objects.create(store=owner.store, type="tryon.completed", data={}, dispatched=True)
        return WebhookDelivery.objects.create(endpoint=endpoint(), event=event, status=WebhookDelivery.Status.DEAD)

    def membership() -> str:
        return str(Membership.objects.get(store=owner.store, user=owner.user).pk)

    return {
        "key_id": lambda: owner.key.public_id,
        "plan_id": lambda: owner.plan.public_id,
        "customer_id": lambda: owner.customer.public_id,
        "external_id": lambda: owner.customer.external_id,
        "endpoint_id": lambda: endpoint().public_id,
        "delivery_id": lambda: delivery().public_id,
        "membership_id": membership,
    }


def portal_url(pattern: URLPattern, owner: Persona) -> str:
    fill = arguments(owner)
    names = list(pattern.pattern.converters)
    missing = [name for name in names if name not in fill]
    assert not missing, f"{pattern.name}: teach test_roles.arguments() to make a {missing}"
    kwargs = {name: fill[name]() for name in names}
    return reverse(pattern.name, kwargs={"store_id": owner.store.public_id, **kwargs})


def owner_only(pattern: URLPattern) -> bool:
    return bool(getattr(pattern.callback, "owner_only", False))


def client_of(persona: str, owner: Persona) -> Client:
    client = Client()
    if persona == "owner":
        client.force_login(owner.user)
    elif persona in (Role.DEVELOPER, Role.VIEWER):
        client.force_login(make_member(owner.store, persona, persona))
    elif persona == "outsider":
        # A member (an owner, even) of another store.
        from conftest import make_persona

        client.force_login(make_persona("outsider").user)
    elif persona == "staff":
        client.force_login(UserFactory(username="support@genvoris.test", is_staff=True, is_superuser=True))
    return client


def expected(persona: str, method: str, pattern: URLPattern) -> str:
    """`allowed`, `forbidden` (403 in the portal's frame), `hidden` (404) or `sign-in`."""
    if persona == "anonymous":
        return "sign-in"
    if persona in ("outsider", "staff"):
        return "hidden"  # staff work from the admin; the portal shows a store to its team only
    return "allowed" if role_allows(persona, method, owner_only=owner_only(pattern)) else "forbidden"


def outcome(response: Any) -> str:
    if response.status_code == 302 and response["Location"].startswith("/accounts/login/"):
        return "sign-in"
    if response.status_code == 403:
        assert "Your role does not allow this" in response.content.decode()
        return "forbidden"
    if response.status_code == 404:
        return "hidden"
    assert response.status_code < 500, response.status_code
    return "allowed"


def test_every_portal_module_is_walked() -> None:
    assert {"portal-overview", "portal-keys", "portal-plans", "portal-webhook-delivery-resend"} <= set(NAMES)
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("pattern", PATTERNS, ids=NAMES)
def test_role_table(pattern: URLPattern, method: str, persona: str, owner: Persona) -> None:
    target = portal_url(pattern, owner)
    client = client_of(persona, owner)
    response = client.get(target) if method == "GET" else client.post(target, {})
    assert outcome(response) == expected(persona, method, pattern), (pattern.name, method, persona)


class TestTheRule:
    """The table the matrix above applies, stated once."""

    def test_owner_does_everything(self) -> None:
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
            assert role_allows(Role.OWNER, method)
            assert role_allows(Role.OWNER, method, owner_only=True)

    def test_developer_changes_but_not_owner_pages(self) -> None:
        assert role_allows(Role.DEVELOPER, "POST")
        assert role_allows(Role.DEVELOPER, "DELETE")
        assert not role_allows(Role.DEVELOPER, "GET", owner_only=True)
        assert not role_allows(Role.DEVELOPER, "POST", owner_only=True)

    def test_viewer_reads_only(self) -> None:
        assert role_allows(Role.VIEWER, "GET")
        assert role_allows(Role.VIEWER, "HEAD")
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            assert not role_allows(Role.VIEWER, method)

    def test_an_unknown_role_changes_nothing(self) -> None:
        assert role_allows("member", "GET")
        assert not role_allows("member", "POST")


class TestButtonsFollowTheRole:
    def test_viewer_sees_no_write_controls(self, owner: Persona) -> None:
        client = client_of(Role.VIEWER, owner)
        keys = client.get(reverse("portal-keys", args=[owner.store.public_id])).content.decode()
        assert "Create a key" not in keys
        assert ">Revoke<" not in keys
        assert owner.key.prefix in keys  # but reads everything
        plans = client.get(reverse("portal-plans", args=[owner.store.public_id])).content.decode()
        assert "Create plan" not in plans
        assert ">Edit<" not in plans
        webhooks = client.get(reverse("portal-webhooks", args=[owner.store.public_id])).content.decode()
        assert "Add endpoint" not in webhooks

    def test_developer_sees_them(self, owner: Persona) -> None:
        client = client_of(Role.DEVELOPER, owner)
        keys = client.get(reverse("portal-keys", args=[owner.store.public_id])).content.decode()
        assert "Create a key" in keys
        assert ">Revoke<" in keys


def test_a_former_member_becomes_a_developer() -> None:
    """Migration 0008: "member" rows are developers, the role closest to what they could do."""
    import importlib

    migration = importlib.import_module("stores.migrations.0008_membership_roles")
    from django.apps import apps

    from conftest import make_persona

    persona = make_persona("legacy")
    Membership.objects.filter(store=persona.store).update(role="member")
    migration.members_become_developers(apps, None)
    assert Membership.objects.get(store=persona.store).role == Role.DEVELOPER
