"""Request ids on every response, and a 503 instead of a 500 when the database is unreachable."""

import logging
import re
import uuid
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from genvoris.api import UNAVAILABLE, error_response

logger = logging.getLogger("genvoris.request")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Echo a caller's well-formed `X-Request-Id`, or make one, so logs and replies can be joined."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else f"req_{uuid.uuid4().hex}"
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-Id"] = request_id
        return response


class DatabaseUnavailableMiddleware:
    """Any view or middleware that cannot reach the database answers 503 `unavailable`.

    Exceptions raised outside views (a middleware's own queries) reach `genvoris.api.server_error`,
    which makes the same decision. Such failures are retryable by design: the track transaction either committed or did not,
    and a retry with the same Idempotency-Key cannot double-charge.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            logger.error(
                "database unavailable on %s %s (request %s): %s",
                request.method,
                request.path,
                getattr(request, "request_id", "-"),
                exception,
            )
            return error_response(UNAVAILABLE)
        return None
