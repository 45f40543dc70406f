"""The interactive API docs render from local assets in a real browser."""

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_api_docs_render_every_operation(page: Any, live_server: Any) -> None:
    offsite: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(live_server.url) else offsite.append(r.url))
    page.goto("/api/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Genvoris API" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() >= 15
    assert offsite == []  # no CDN: everything comes from this server
