"""genvoris.csp: the Content-Security-Policy of every surface, exactly, and templates that need no
'unsafe-inline' to render under it."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from conftest import Persona
from genvoris.tests.admin_pages import admin_url, change_url
from stores.models import Store

pytestmark = pytest.mark.django_db

STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
# widget.js styles its shadow root with a <style> element and shows blob: and data: images.
DEMO = STRICT.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "img-src 'self' data:", "img-src 'self' data: blob:"
)


def directives(policy: str) -> dict[str, list[str]]:
    """A policy as {directive: sources}: django-csp does not keep the directives in order."""
    parsed = [part.split() for part in policy.split(";") if part.strip()]
    return {name: sources for name, *sources in parsed}


def policy_of(response: object) -> dict[str, list[str]]:
    return directives(response["Content-Security-Policy"])  # type: ignore[index]


def portal_paths(persona: Persona) -> list[str]:
    store = persona.store.public_id
    pages = ["portal-overview", "portal-events", "portal-products", "portal-customers", "portal-plans"]
    pages += ["portal-keys", "portal-credits", "portal-integration", "portal-integration-test"]
    pages += ["portal-analytics"]
    return [reverse(name, args=[store]) for name in pages] + [
        reverse("portal-plan-edit", args=[store, persona.plan.public_id]),
        reverse("portal-key-revoke", args=[store, persona.key.public_id]),
    ]


class TestStrictPolicy:
    def test_every_portal_page(self, client: Client, owner: Persona) -> None:
        client.force_login(owner.user)
        for path in portal_paths(owner):
            response = client.get(path)
            assert response.status_code == 200, path
            assert policy_of(response) == directives(STRICT), path

    def test_a_new_key_page_and_a_refused_form(self, client: Client, owner: Persona) -> None:
        client.force_login(owner.user)
        store = owner.store.public_id
        created = client.post(
            reverse("portal-key-create", args=[store]), {"label": "CI", "kind": "secret"}, follow=True
        )
        refused = client.post(reverse("portal-plans", args=[store]), {"name": ""})
        assert (created.status_code, refused.status_code) == (200, 400)
        assert created.context["revealed"]
        assert policy_of(created) == policy_of(refused) == directives(STRICT)

    @pytest.mark.parametrize("path", ["/accounts/login/", "/portal/", "/admin/login/", "/portal/st_nope/"])
    def test_signed_out_pages_and_not_found(self, client: Client, path: str) -> None:
        assert policy_of(client.get(path)) == directives(STRICT)

    def test_the_admin(self, admin_client: Client, owner: Persona) -> None:
        for path in ["/admin/", admin_url(Store, "changelist"), change_url(owner.store)]:
            response = admin_client.get(path)
            assert response.status_code == 200, path
            assert policy_of(response) == directives(STRICT), path

    def test_the_header_is_sent_as_the_setting_reads(self, client: Client) -> None:
        header = client.get("/accounts/login/")["Content-Security-Policy"]
        written = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
        assert directives(header) == {name: list(sources) for name, sources in written.items()}


class TestSurfaces:
    @pytest.mark.parametrize("path", ["/demo/", "/demo/linen-shirt/", "/demo/stats"])
    def test_the_demo_storefront_allows_what_the_widget_needs(self, client: Client, path: str) -> None:
        assert policy_of(client.get(path)) == directives(DEMO)

    def test_api_docs_run_only_their_nonced_start_up_script(self, client: Client) -> None:
        response = client.get("/api/docs")
        policy = policy_of(response)
        nonce = policy["script-src"].pop()
        assert re.fullmatch(r"'nonce-[A-Za-z0-9+/=]{24}'", nonce)
        assert policy == directives(STRICT)
        html = response.content.decode()
        inline = re.findall(r"<script(?![^>]*\ssrc=)([^>]*)>", html)
        assert inline == [f' nonce="{nonce[7:-1]}"']
        assert "<style" not in html
        assert client.get("/api/docs")["Content-Security-Policy"] != response["Content-Security-Policy"]

    @pytest.mark.parametrize("path", ["/widget.js", "/api/schema"])
    def test_other_responses_get_the_strict_policy(self, client: Client, path: str) -> None:
        assert policy_of(client.get(path)) == directives(STRICT)


TEMPLATES = Path(settings.BASE_DIR) / "templates"
TEMPLATE_TAGS = re.compile(r"{%.*?%}|{#.*?#}|{% comment %}.*?{% endcomment %}", re.S)
INLINE = {
    "an inline <script>": re.compile(r"<script(?![^>]*\s(?:src|nonce)=)[^>]*>", re.I),
    "a <style> element": re.compile(r"<style[\s>]", re.I),
    "a style attribute": re.compile(r"<[^>]+\sstyle\s*=", re.I),
    "an event handler attribute": re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
}


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_needs_unsafe_inline(template: Path) -> None:
    """Bars are SVG rects, scripts and styles static files; the only inline script carries a nonce."""
    markup = TEMPLATE_TAGS.sub("", template.read_text())
    assert {what for what, pattern in INLINE.items() if pattern.search(markup)} == set()
