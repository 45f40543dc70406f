"""Structured logs (SPEC §20): one line an event, the request's id, store and key prefix on each.

`RequestLogMiddleware` opens a context for every request (its id, echoed as `X-Request-Id`), and
logs one line when the answer is ready: method, route (the URL pattern, never the path, which can
carry a set-password token), status, duration, store, key prefix and the caller's address. Code
that authenticates a key names it with `note_key`, so the request line and every other line the
request logs (a service's `logger.info`) say which store and key it was; `ContextFilter` copies the
context onto each record.

Two formats (`LOG_FORMAT`): `json`, one JSON object a line, and `plain`, for people at a terminal.
Both escape control characters: JSON's own escaping (plus DEL, which JSON leaves as it is), and
`PlainFormatter` escapes them in the message. Neither ever shows a key or a secret: nothing here
logs a header, a body or a path, and a key is named by its visible prefix only.
"""

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

from genvoris.metrics import PATH as METRICS_PATH
from genvoris.metrics import UNMATCHED, route_of
from genvoris.ratelimit import client_ip

logger = logging.getLogger("genvoris.request")

# genvoris.health's paths (it cannot be imported here: LOGGING loads this module before the apps).
HEALTH_PATHS = ("/healthz", "/readyz")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# C0 controls, DEL and C1 controls: what a terminal or a log shipper could act on.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Answered by a middleware before URL resolution: named by their path, which is fixed.
_FIXED_ROUTES = frozenset({*HEALTH_PATHS, METRICS_PATH})


@dataclass
class LogContext:
    request_id: str
    store: str | None = None
    key_prefix: str | None = None


_context: ContextVar[LogContext | None] = ContextVar("genvoris_log_context", default=None)


def note_key(key: Any) -> None:
    """The request authenticated with (or named) this ApiKey: its store and prefix go on its lines.

    Takes the key with its store loaded (`api_key_by_plaintext` selects both): no query here.
    """
    context = _context.get()
    if context is not None:
        context.store = key.store.public_id
        context.key_prefix = key.prefix


def escape_controls(text: str) -> str:
    """`\\x1b[31m` stays readable and inert: each control character as its `\\xNN` escape."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


class ContextFilter(logging.Filter):
    """Puts the current request's id, store and key prefix on every record logged during it.

    Django's own request records (`django.request`, `django.security.*`: "Internal Server Error:
    /path") name the path; the path of a set-password link is its token, so the path is replaced by
    the route here, before any handler formats it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        if context is not None:
            record.request_id = context.request_id
            if context.store is not None:
                record.store = context.store
            if context.key_prefix is not None:
                record.key_prefix = context.key_prefix
        request = getattr(record, "request", None)
        if isinstance(request, HttpRequest) and isinstance(record.args, tuple):
            # Django's log_response escapes its arguments (unicode_escape) before logging: a path
            # with a non-ASCII character or a backslash arrives in that form, not as request.path.
            paths = {request.path, request.path.encode("unicode_escape").decode("ascii")}
            if paths & set(record.args):
                route = route_of(request)
                record.args = tuple(route if arg in paths else arg for arg in record.args)
        return True


class PlainFormatter(logging.Formatter):
    """`%`-style lines for a terminal, control characters escaped (a traceback, added after, keeps
    its line breaks)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


def _dumps(value: Any, **options: Any) -> str:
    # JSON escapes U+0000–U+001F and, with ensure_ascii, everything past ASCII; DEL it leaves as is.
    return json.dumps(value, **options).replace("\x7f", "\\u007f")


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object a line: time, level, logger, message, the context, and any `extra`.

    Django puts the request object on some records (`django.request`, `django.server`): it is
    dropped, as its text holds the query string.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "taskName"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")  # ISO 8601, UTC
        kwargs.setdefault("json_serializer", _dumps)
        super().__init__(*args, **kwargs)


class RequestLogMiddleware:
    """Gives each request an id (a caller's well-formed `X-Request-Id`, else a new one), echoes it,
    and logs one line for it once answered. First in the middleware list, so it times everything.

    Load balancer probes (`/healthz`, `/readyz`) are logged at DEBUG: every few seconds from every
    balancer, they would drown the lines an operator reads.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else f"req_{uuid.uuid4().hex}"
        request.request_id = request_id  # type: ignore[attr-defined]
        context = LogContext(request_id)
        token = _context.set(context)
        try:
            response = self.get_response(request)
            response["X-Request-Id"] = request_id
            self._log(request, response.status_code, context, time.perf_counter() - started)
        finally:
            _context.reset(token)
        return response

    def _log(self, request: HttpRequest, status: int, context: LogContext, seconds: float) -> None:
        route = route_of(request)
        if route == UNMATCHED and request.path in _FIXED_ROUTES:
            route = request.path
        match = request.resolver_match
        if context.store is None and match is not None and "store_id" in match.kwargs:
            context.store = str(match.kwargs["store_id"])  # the portal's store, as its URL names it
        if status >= 500:
            level = logging.ERROR
        elif request.path in HEALTH_PATHS:
            level = logging.DEBUG
        else:
            level = logging.INFO
        if not logger.isEnabledFor(level):
            return
        duration_ms = round(seconds * 1000, 1)
        method = request.method or ""
        logger.log(
            level,
            "%s %s %s %sms",
            method,
            route,
            status,
            duration_ms,
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": duration_ms,
                "remote_addr": client_ip(request),
            },
        )
