"""A 503 instead of a 500 when the database is unreachable (request ids: genvoris/logs.py)."""

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from genvoris.api import UNAVAILABLE, error_response
from genvoris.metrics import route_of

logger = logging.getLogger("genvoris.request")


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
            # The route, not the path: a path can carry a set-password token (genvoris/logs.py).
            logger.error("database unavailable on %s %s: %s", request.method, route_of(request), exception)
            return error_response(UNAVAILABLE)
        return None
