"""The site's own pages: the landing page at `/` and `/favicon.ico`."""

import re
from typing import Any

import pytest
from django.test import Client
from PIL import Image

from conftest import Persona
from genvoris.views import FAVICON_FILE

pytestmark = pytest.mark.django_db


class TestLanding:
    def test_it_links_the_demo_the_portal_the_docs_and_the_admin(self, client: Client) -> None:
        response = client.get("/")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        text = response.content.decode()
        links = set(re.findall(r'href="([^"]+)"', text))
        assert {"/demo/", "/portal/", "/api/docs", "/admin/", "/api/schema"} <= links
        assert "<h1>Genvoris</h1>" in text

    def test_it_is_the_portals_look_not_a_debug_page(self, client: Client, settings: Any) -> None:
        settings.DEBUG = True
        text = client.get("/").content.decode()
        assert "genvoris/portal.css" in text
        assert "Page not found" not in text
        assert "URLconf" not in text

    def test_signed_out_and_signed_in(self, client: Client, owner: Persona) -> None:
        assert "Sign out" not in client.get("/").content.decode()
        client.force_login(owner.user)
        assert "Sign out" in client.get("/").content.decode()

    def test_only_get_and_head(self, client: Client) -> None:
        assert client.head("/").status_code == 200
        assert client.post("/").status_code == 405

    def test_it_carries_the_strict_policy(self, client: Client) -> None:
        policy = client.get("/")["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy


class TestFavicon:
    def test_served_with_long_caching(self, client: Client) -> None:
        response = client.get("/favicon.ico")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/x-icon"
        assert response.content == FAVICON_FILE.read_bytes()
        assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO directory
        assert response["Cache-Control"] == "public, max-age=2592000, stale-while-revalidate=86400"

    def test_a_revalidation_is_a_304(self, client: Client) -> None:
        etag = client.get("/favicon.ico")["ETag"]
        response = client.get("/favicon.ico", HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304
        assert response.content == b""
        assert response["ETag"] == etag

    def test_it_holds_the_sizes_browsers_ask_for(self) -> None:
        with Image.open(FAVICON_FILE) as icon:
            assert {(16, 16), (32, 32), (48, 48)} <= set(icon.info["sizes"])

    def test_only_get_and_head(self, client: Client) -> None:
        assert client.head("/favicon.ico").status_code == 200
        assert client.post("/favicon.ico").status_code == 405

    @pytest.mark.parametrize("path", ["/", "/accounts/login/", "/demo/", "/demo/wrap-dress/"])
    def test_pages_link_it(self, client: Client, path: str) -> None:
        text = client.get(path).content.decode()
        assert '<link rel="icon" href="/favicon.ico" sizes="48x48">' in text
        assert 'href="/static/genvoris/favicon.svg" type="image/svg+xml"' in text

    def test_the_admin_links_it(self, admin_client: Client) -> None:
        text = admin_client.get("/admin/").content.decode()
        assert 'href="/favicon.ico"' in text
