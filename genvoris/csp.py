"""The Content-Security-Policy of each surface: settings.CONTENT_SECURITY_POLICY everywhere, except
under the path prefixes of settings.CONTENT_SECURITY_POLICY_BY_PATH, which get their own.

A policy by path rather than django-csp's per-view decorators keeps every surface's policy in
settings, side by side, and reaches views we do not own (drf-spectacular's Swagger UI). A view
decorated with django-csp's @csp still decides its own policy.
"""

from typing import Any

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


def surface_policy(path: str) -> dict[str, Any] | None:
    """The directives for `path`, or None for the default policy."""
    for prefix, directives in settings.CONTENT_SECURITY_POLICY_BY_PATH.items():
        if path.startswith(prefix):
            return directives
    return None


class SurfacePolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, extended where it says to (get_policy_parts)."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.config is None:
            parts.config = surface_policy(request.path_info)
        return parts
