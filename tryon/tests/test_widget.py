"""widget.js as served: latest and pinned URLs, the minified build, the SRI hash, caching, CORS,
and its size budget. That the minified build runs is proven by the browser tests, which load it."""

import base64
import gzip
import hashlib
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import rjsmin
from django.test import Client

from tryon import widget
from tryon.widget import WIDGET_FILE, widget_bundle

SOURCE = WIDGET_FILE.read_bytes()
SERVED = widget_bundle().content
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
        assert response.content == SERVED
        assert response["Cache-Control"] == "public, max-age=300, stale-while-revalidate=86400"

    def test_pinned_is_immutable(self, client: Client) -> None:
        response = client.get(f"/widget-{VERSION}.js")
        assert_script(response)
        assert response.content == SERVED
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
        assert gzip.decompress(response.content) == SERVED

    def test_a_revalidation_is_a_304(self, client: Client) -> None:
        etag = client.get("/widget.js")["ETag"]
        response = client.get("/widget.js", HTTP_IF_NONE_MATCH=etag)
        assert response.status_code == 304
        assert response.content == b""

    def test_only_get_and_head(self, client: Client) -> None:
        assert client.head("/widget.js").status_code == 200
        assert client.post("/widget.js").status_code == 405


# Template literals and regular expression literals, found in the readable source.
TEMPLATE = re.compile(rb"`(?:\\.|[^`\\])*`")
REGEX = re.compile(
    rb"(?:(?<=[(,=:!&|?;{\[])|(?<=return ))\s*(/(?![/*])(?:\\.|\[(?:\\.|[^\]\\\n])*\]|[^/\\\n\[])+/[dgimsuy]*)"
)


class TestMinifiedBuild:
    def test_what_is_served_is_the_minified_source(self) -> None:
        assert rjsmin.jsmin(SOURCE, keep_bang_comments=True) == SERVED
        assert len(SERVED) < 0.9 * len(SOURCE)
        assert SERVED.startswith(b"/*! Genvoris try-on widget.")  # the one comment kept
        assert b"included twice" in SOURCE
        assert b"included twice" not in SERVED
        assert f'const VERSION="{VERSION}";'.encode() in SERVED

    def test_template_literals_and_regular_expressions_are_kept_as_written(self) -> None:
        templates, regexes = TEMPLATE.findall(SOURCE), REGEX.findall(SOURCE)
        assert len(templates) >= 6
        assert b"`<style>${STYLE}</style>" in b"".join(templates)
        assert len(regexes) >= 20
        assert rb"/^[\w-]{1,64}$/" in regexes
        assert [t for t in templates if t not in SERVED] == []  # CSS and HTML keep every space and newline
        assert [r for r in regexes if r not in SERVED] == []

    def test_every_implementation_of_rjsmin_builds_the_same_bytes(self) -> None:
        # Each server process builds its own copy, with the C extension or without: one SRI hash.
        python_only = rjsmin._make_jsmin(python_only=True)  # type: ignore[attr-defined]
        assert python_only(SOURCE, keep_bang_comments=True) == SERVED

    def test_built_once_per_process(self, client: Client) -> None:
        widget._load.cache_clear()
        with mock.patch.object(widget, "minify", wraps=widget.minify) as minify:
            for path in ("/widget.js", f"/widget-{VERSION}.js", "/widget-hash", "/widget.js"):
                assert client.get(path).status_code == 200
        assert minify.call_count == 1

    def test_serving_writes_nothing_in_the_repository(self, client: Client) -> None:
        def files() -> dict[Path, tuple[int, int]]:
            app = WIDGET_FILE.parents[2]  # tryon/
            return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in app.rglob("*") if "__pycache__" not in p.parts}

        before = files()
        widget._load.cache_clear()
        client.get("/widget.js", HTTP_ACCEPT_ENCODING="gzip")
        client.get("/widget-hash")
        assert files() == before


class TestHash:
    @pytest.mark.parametrize("path", ["/widget.js", "/widget-{version}.js"])
    def test_the_hash_is_of_the_served_bytes(self, client: Client, path: str) -> None:
        response = client.get("/widget-hash")
        assert response.status_code == 200
        served = client.get(path.format(version=VERSION)).content
        assert response.json() == {"version": VERSION, "sha384": sri(served)}
        gzipped = client.get(path.format(version=VERSION), HTTP_ACCEPT_ENCODING="gzip").content
        assert sri(gzip.decompress(gzipped)) == response.json()["sha384"]  # what the browser checks
        assert response.json()["sha384"] != sri(SOURCE)  # not the file in the repository
        assert response["Access-Control-Allow-Origin"] == "*"

    def test_the_version_is_the_one_the_script_reports(self) -> None:
        assert "version: VERSION" in SOURCE.decode()


class TestBudget:
    @pytest.mark.parametrize("level", [6, 9])  # 6: what most servers and CDNs use by default
    def test_under_15_kb_gzipped(self, level: int) -> None:
        size = len(gzip.compress(SERVED, compresslevel=level))
        assert size < GZIP_BUDGET, f"widget.js is {size} bytes gzipped (level {level}); the budget is {GZIP_BUDGET}"

    def test_the_gzipped_answer_is_within_budget(self, client: Client) -> None:
        response = client.get("/widget.js", HTTP_ACCEPT_ENCODING="gzip")
        assert len(response.content) < GZIP_BUDGET

    def test_no_dependencies(self) -> None:
        text = SOURCE.decode()
        assert not re.search(r"^\s*import |require\(|https?://", text, re.M)  # nothing fetched from elsewhere
