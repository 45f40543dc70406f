"""widget.js as served: latest and pinned URLs, the SRI hash, caching, CORS, and its size budget."""

import base64
import gzip
import hashlib
import re
from typing import Any

import pytest
from django.test import Client

from tryon.widget import WIDGET_FILE

SOURCE = WIDGET_FILE.read_bytes()
VERSION = re.search(rb'const VERSION = "(\d+\.\d+\.\d+)";', SOURCE)[1].decode()  # type: ignore[index]
GZIP_BUDGET = 15 * 1024


def sri(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


def assert_script(response: Any) -> None:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response["ETag"]
    assert "Accept-Encoding" in response["Vary"]


class TestServing:
    def test_latest(self, client: Client) -> None:
        response = client.get("/widget.js")
        assert_script(response)
        assert response.content == SOURCE
        assert response["Cache-Control"] == "public, max-age=300, stale-while-revalidate=86400"

    def test_pinned_is_immutable(self, client: Client) -> None:
        response = client.get(f"/widget-{VERSION}.js")
        assert_script(response)
        assert response.content == SOURCE
        assert response["Cache-Control"] == "public, max-age=31536000, immutable"

    def test_another_version_is_not_served(self, client: Client) -> None:
        response = client.get("/widget-0.0.1.js")
        assert response.status_code == 404
        assert response["Access-Control-Allow-Origin"] == "*"
        assert VERSION.encode() in response.content

    def test_gzip_when_asked(self, client: Client) -> None:
        response = client.get("/widget.js", HTTP_ACCEPT_ENCODING="gzip, deflate, br")
        assert_script(response)
        assert response["Content-Encoding"] == "gzip"
        assert gzip.decompress(response.content) == SOURCE

    def test_a_revalidation_is_a_304(self, client: Client) -> None:
        etag = client.get("/widget.js")["ETag"]
        response = client.get("/widget.js", HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304
        assert response.content == b""

    def test_only_get_and_head(self, client: Client) -> None:
        assert client.head("/widget.js").status_code == 200
        assert client.post("/widget.js").status_code == 405


class TestHash:
    def test_the_hash_is_of_the_served_bytes(self, client: Client) -> None:
        response = client.get("/widget-hash")
        assert response.status_code == 200
        assert response.json() == {"version": VERSION, "sha384": sri(client.get(f"/widget-{VERSION}.js").content)}
        assert response.json()["sha384"] == sri(SOURCE)
        assert response["Access-Control-Allow-Origin"] == "*"

    def test_the_version_is_the_one_the_script_reports(self) -> None:
        assert "version: VERSION" in SOURCE.decode()


class TestBudget:
    @pytest.mark.parametrize("level", [6, 9])  # 6: what most servers and CDNs use by default
    def test_under_15_kb_gzipped(self, level: int) -> None:
        size = len(gzip.compress(SOURCE, compresslevel=level))
        assert size < GZIP_BUDGET, f"widget.js is {size} bytes gzipped (level {level}); the budget is {GZIP_BUDGET}"

    def test_no_dependencies(self) -> None:
        text = SOURCE.decode()
        assert not re.search(r"^\s*import |require\(|https?://", text, re.M)  # nothing fetched from elsewhere
