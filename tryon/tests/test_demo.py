"""/demo/: the storefront that embeds the widget as the published snippet shows."""

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from quotas.models import EndCustomer
from quotas.services import usage_consume_one, usage_period_current
from quotas.sessions import session_verify
from tryon.demo import Demo, demo_find, demo_seed

pytestmark = pytest.mark.django_db

SNIPPET = re.compile(
    r'<button class="genvoris-tryon-btn" data-product-image="(?P<image>[^"]+)"[^>]*>\nVirtual Try-on\n</button>'
)
LOADER = re.compile(
    r'<script\nsrc="(?P<src>[^"]+)"\ndefer\ndata-api-key="(?P<key>[^"]+)"\n'
    r'(?:data-end-customer-token="(?P<token>[^"]+)"\n)?></script>'
)


@pytest.fixture
def demo() -> Demo:
    return demo_seed()


def page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


class TestNotSeeded:
    @pytest.mark.parametrize("path", ["/demo/", "/demo/wrap-dress/", "/demo/linen-shirt/"])
    def test_the_page_says_how_to_seed(self, client: Client, path: str) -> None:
        text = page(client, path)
        assert "seed_demo" in text
        assert "make run" in text
        assert "widget.js" not in text

    def test_stats(self, client: Client) -> None:
        assert client.get("/demo/stats").json() == {"seeded": False}
        assert demo_find() is None


class TestStorefront:
    def test_the_index_lists_both_products_and_the_figures(self, client: Client, demo: Demo) -> None:
        text = page(client, "/demo/")
        assert "/demo/wrap-dress/" in text
        assert "/demo/linen-shirt/" in text
        assert 'id="credits">500<' in text
        assert 'id="shopper-used">0<' in text
        assert 'id="shopper-limit">3<' in text

    def test_the_legacy_product_embeds_the_snippet_without_a_token(self, client: Client, demo: Demo) -> None:
        text = page(client, "/demo/wrap-dress/")
        assert SNIPPET.search(text)["image"] == "/static/tryon/demo/wrap-dress.png"  # type: ignore[index]
        (loader,) = LOADER.finditer(text)
        assert loader["src"] == "http://testserver/widget.js"
        assert loader["key"] == demo.publishable_key
        assert loader["token"] is None

    def test_the_member_product_carries_a_token_for_the_demo_shopper(self, client: Client, demo: Demo) -> None:
        text = page(client, "/demo/linen-shirt/")
        assert SNIPPET.search(text)["image"] == "/static/tryon/demo/linen-shirt.png"  # type: ignore[index]
        (loader,) = LOADER.finditer(text)
        assert loader["key"] == demo.publishable_key
        claims = session_verify(loader["token"])
        assert (claims.sub, claims.sid) == (demo.customer.public_id, demo.store.public_id)

    def test_a_paused_shopper_never_falls_back_to_legacy_mode(self, client: Client, demo: Demo) -> None:
        """No token can be minted for them, and without one the page offers no try-on at all:
        a loader without a token would spend the store's credits."""
        EndCustomer.objects.filter(pk=demo.customer.pk).update(status=EndCustomer.Status.PAUSED)
        text = page(client, "/demo/linen-shirt/")
        assert list(LOADER.finditer(text)) == []
        assert "widget.js" not in text
        assert "genvoris-tryon-btn" not in text
        assert "<strong>paused</strong>" in text
        assert "Resume the shopper" in text

    def test_a_paused_shopper_keeps_the_token_of_their_session(self, client: Client, demo: Demo) -> None:
        """As on a real store: the token minted while active stays in the page; the server refuses."""
        first = page(client, "/demo/linen-shirt/")
        minted = next(LOADER.finditer(first))["token"]
        assert client.cookies["gv_demo_token"].value == minted
        assert client.cookies["gv_demo_token"]["httponly"]
        assert client.cookies["gv_demo_token"]["path"] == "/demo/"
        client.post("/demo/shopper-status", {"status": "PAUSED", "next": "/demo/linen-shirt/"})
        text = page(client, "/demo/linen-shirt/")
        (loader,) = LOADER.finditer(text)
        assert loader["token"] == minted
        assert "whose plan is <strong>paused</strong>" in text

    def test_a_kept_token_must_be_valid_and_the_demo_shoppers(self, client: Client, demo: Demo) -> None:
        EndCustomer.objects.filter(pk=demo.customer.pk).update(status=EndCustomer.Status.PAUSED)
        client.cookies["gv_demo_token"] = "not.a.token"
        assert list(LOADER.finditer(page(client, "/demo/linen-shirt/"))) == []

    def test_the_legacy_page_ignores_the_shopper(self, client: Client, demo: Demo) -> None:
        EndCustomer.objects.filter(pk=demo.customer.pk).update(status=EndCustomer.Status.PAUSED)
        (loader,) = LOADER.finditer(page(client, "/demo/wrap-dress/"))
        assert loader["token"] is None
        assert "gv_demo_token" not in client.cookies

    def test_product_pages_show_the_status_the_widget_sees(self, client: Client, demo: Demo) -> None:
        text = page(client, "/demo/linen-shirt/")
        assert 'id="status"' in text
        assert 'data-status-url="/api/tryon/status"' in text
        assert 'id="status"' not in page(client, "/demo/")

    def test_an_unknown_product_is_404(self, client: Client, demo: Demo) -> None:
        assert client.get("/demo/no-such-thing/").status_code == 404

    def test_the_product_images_are_static_files(self, client: Client, demo: Demo) -> None:
        for name in ("wrap-dress.png", "linen-shirt.png", "sample-shopper.jpg"):
            response = client.get(f"/static/tryon/demo/{name}")
            assert response.status_code == 200, name


class TestFigures:
    def test_stats_follow_the_books(self, client: Client, demo: Demo) -> None:
        period = usage_period_current(customer=demo.customer, now=timezone.now())
        assert period is not None
        usage_consume_one(period_id=period.pk)
        assert client.get("/demo/stats").json() == {
            "seeded": True,
            "credits": 500,
            "shopper": {
                "external_id": "demo-shopper",
                "plan": "Demo Starter",
                "status": "ACTIVE",
                "used": 1,
                "limit": 3,
                "remaining": 2,
            },
        }

    def test_reset_gives_the_shopper_a_fresh_period(self, client: Client, demo: Demo) -> None:
        period = usage_period_current(customer=demo.customer, now=timezone.now())
        assert period is not None
        usage_consume_one(period_id=period.pk)
        response = client.post("/demo/reset-shopper", {"next": "/demo/linen-shirt/"})
        assert response.status_code == 302
        assert response["Location"] == "/demo/linen-shirt/"
        assert client.get("/demo/stats").json()["shopper"]["used"] == 0

    def test_pause_and_resume_the_shopper(self, client: Client, demo: Demo) -> None:
        response = client.post("/demo/shopper-status", {"status": "PAUSED", "next": "/demo/linen-shirt/"})
        assert (response.status_code, response["Location"]) == (302, "/demo/linen-shirt/")
        demo.customer.refresh_from_db()
        assert demo.customer.status == EndCustomer.Status.PAUSED
        assert client.get("/demo/stats").json()["shopper"]["status"] == "PAUSED"
        assert "Resume the shopper" in page(client, "/demo/")
        client.post("/demo/shopper-status", {"status": "ACTIVE"})
        demo.customer.refresh_from_db()
        assert demo.customer.status == EndCustomer.Status.ACTIVE
        assert "Pause the shopper" in page(client, "/demo/")

    @pytest.mark.parametrize("status", ["CANCELLED", "paused", "", "x" * 5000])
    def test_only_pause_and_resume(self, client: Client, demo: Demo, status: str) -> None:
        response = client.post("/demo/shopper-status", {"status": status})
        assert (response.status_code, response["Location"]) == (302, "/demo/")
        demo.customer.refresh_from_db()
        assert demo.customer.status == EndCustomer.Status.ACTIVE

    def test_shopper_status_without_a_demo(self, client: Client) -> None:
        assert client.post("/demo/shopper-status", {"status": "PAUSED"}).status_code == 302
        assert client.get("/demo/shopper-status").status_code == 405

    def test_reset_never_redirects_off_the_demo(self, client: Client, demo: Demo) -> None:
        response: Any = client.post("/demo/reset-shopper", {"next": "https://evil.example/"})
        assert response["Location"] == "/demo/"
        assert client.get("/demo/reset-shopper").status_code == 405


class TestLightOnTheWire:
    """Issue 15: the product image's box is known before it loads; the HTML is compressed."""

    def test_images_carry_their_real_size(self, client: Client, demo: Demo) -> None:
        from PIL import Image

        from tryon.demo_views import PRODUCTS

        root = Path(__file__).resolve().parents[1] / "static"
        for product in PRODUCTS:
            with Image.open(root / product.image) as image:
                assert image.size == (product.width, product.height)
            text = page(client, f"/demo/{product.slug}/")
            assert f'width="{product.width}" height="{product.height}"' in text

    @pytest.mark.parametrize("path", ["/demo/", "/demo/wrap-dress/", "/demo/linen-shirt/", "/demo/bag/"])
    def test_html_is_gzipped_when_asked(self, client: Client, demo: Demo, path: str) -> None:
        import gzip

        response = client.get(path, HTTP_ACCEPT_ENCODING="gzip")
        assert response["Content-Encoding"] == "gzip"
        assert b"Demo Boutique" in gzip.decompress(response.content)
        assert "Accept-Encoding" in response["Vary"]
