"""widget.js for merchants' pages: the latest at /widget.js, pinned at /widget-<version>.js, and
its Subresource Integrity hash at /widget-hash.

The version lives in one place, the `VERSION` constant inside the script. Only the current
version is served; a pinned URL of any other version is a 404, never a silent upgrade (a pinned
tag carries an SRI hash that another file would fail anyway).

What is served is a minified build of the readable source in the repository, made by rjsmin once
per process (and again when the file changes), in memory: nothing is written to disk. The SRI
hash, the ETag and the gzipped answer are all of those minified bytes.
"""

import base64
import functools
import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import rjsmin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

WIDGET_FILE = Path(__file__).resolve().parent / "static" / "tryon" / "widget.js"
_VERSION = re.compile(rb'const VERSION = "(\d+\.\d+\.\d+)";')
CONTENT_TYPE = "text/javascript; charset=utf-8"
# Latest: browsers recheck within minutes, and the ETag makes that a 304. Pinned: never changes.
LATEST_CACHE = "public, max-age=300, stale-while-revalidate=86400"
PINNED_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Bundle:
    content: bytes  # the minified build, as served
    gzipped: bytes
    version: str
    sha384: str  # the SRI form: "sha384-<base64>"

    @property
    def etag(self) -> str:
        # Weak: the gzipped and the plain answer are the same script, not the same bytes.
        return f'W/"{self.sha384[7:27]}"'


def widget_bundle() -> Bundle:
    """Read again only when the file changes (a stat per request), so edits show up in development."""
    return _load(WIDGET_FILE.stat().st_mtime_ns)


def minify(source: bytes) -> bytes:
    """rjsmin keeps strings, template literals and regular expressions as they are, and the
    leading `/*! … */` comment."""
    return rjsmin.jsmin(source, keep_bang_comments=True)


@functools.lru_cache(maxsize=1)
def _load(mtime_ns: int) -> Bundle:
    source = WIDGET_FILE.read_bytes()
    match = _VERSION.search(source)
    if match is None:
        raise ValueError(f'{WIDGET_FILE} has no `const VERSION = "x.y.z";`')
    content = minify(source)
    digest = base64.b64encode(hashlib.sha384(content).digest()).decode()
    return Bundle(
        content=content,
        gzipped=gzip.compress(content, compresslevel=9, mtime=0),
        version=match[1].decode(),
        sha384=f"sha384-{digest}",
    )


@require_safe
def widget_latest(request: HttpRequest) -> HttpResponse:
    return _script(request, widget_bundle(), LATEST_CACHE)


@require_safe
def widget_pinned(request: HttpRequest, version: str) -> HttpResponse:
    bundle = widget_bundle()
    if version != bundle.version:
        response = HttpResponse(
            f"/* Genvoris widget {version} is not served here; the current version is {bundle.version}. */\n",
            status=404,
            content_type=CONTENT_TYPE,
        )
        response["Access-Control-Allow-Origin"] = "*"
        return response
    return _script(request, bundle, PINNED_CACHE)


@require_safe
def widget_hash(request: HttpRequest) -> JsonResponse:
    bundle = widget_bundle()
    response = JsonResponse({"version": bundle.version, "sha384": bundle.sha384})
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = LATEST_CACHE
    return response


def _script(request: HttpRequest, bundle: Bundle, cache_control: str) -> HttpResponse:
    if bundle.etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = HttpResponse(bundle.gzipped, content_type=CONTENT_TYPE)
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(bundle.content, content_type=CONTENT_TYPE)
    response["ETag"] = bundle.etag
    response["Cache-Control"] = cache_control
    response["Access-Control-Allow-Origin"] = "*"
    # Pages that isolate themselves (COEP) may still load the script.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["X-Widget-Version"] = bundle.version
    patch_vary_headers(response, ["Accept-Encoding"])
    return response
