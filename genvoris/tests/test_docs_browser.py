"""The interactive API docs render from local assets in a real browser."""

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_docs_render_every_operation(page: Any) -> None:
    offsite: list[str] = []
    page.on("request", lambda request: offsite.append(request.url) if "127.0.0.1" not in request.url else None)
    page.goto("/api/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Genvoris API" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() >= 15
    assert offsite == []  # no CDN: everything comes from this server
