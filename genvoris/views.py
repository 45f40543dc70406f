"""The site's own pages: the landing page at `/` and `/favicon.ico`."""

import functools
import hashlib
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

FAVICON_FILE = Path(__file__).resolve().parent / "static" / "genvoris" / "favicon.ico"
# Browsers ask for /favicon.ico on every site without being told, and the icon hardly ever
# changes: a month in every cache, then a cheap revalidation by ETag.
FAVICON_CACHE = "public, max-age=2592000, stale-while-revalidate=86400"


@require_safe
def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "genvoris/landing.html")


@functools.cache
def _favicon() -> tuple[bytes, str]:
    content = FAVICON_FILE.read_bytes()
    return content, f'"{hashlib.sha256(content).hexdigest()[:20]}"'


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    content, etag = _favicon()
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(content, content_type="image/x-icon")
    response["ETag"] = etag
    response["Cache-Control"] = FAVICON_CACHE
    return response
