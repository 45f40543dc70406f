"""The button design (SPEC §17): `GET/POST /api/v1/button-design` for the merchant's server, and
`GET /api/widget/button-design` for the widget in shoppers' browsers."""

import logging
from collections.abc import Iterable
from typing import Any

from django.utils.cache import patch_vary_headers
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genvoris.api import error_responses, json_object
from genvoris.ratelimit import client_ip
from stores.auth import StoreApiView
from stores.selectors import (
    PUBLIC_DESIGN_TTL_SECONDS,
    PublicDesign,
    button_design_defaults,
    button_design_json,
    button_design_of,
    public_button_design,
)
from stores.serializers import ButtonDesignEnvelope, ButtonDesignIn
from stores.services import button_design_update

logger = logging.getLogger("genvoris.stores")


class ButtonDesignView(StoreApiView):
    @extend_schema(
        operation_id="button_design_retrieve",
        responses={200: ButtonDesignEnvelope, **error_responses(403)},
        description="The store's button design; the defaults until it is first changed.",
    )
    def get(self, request: Request) -> Response:
        return Response({"data": button_design_json(button_design_of(self.store))})

    @extend_schema(
        operation_id="button_design_update",
        request=ButtonDesignIn,
        responses={200: ButtonDesignEnvelope, **error_responses(400, 403)},
        description="Changes the fields sent; the others keep their values (`{}` changes nothing). An unknown "
        "field, a `null` or a value out of range is 400 with `fieldErrors`, and nothing is changed. Widgets "
        "see a change within a minute (the public endpoint's cache).",
    )
    def post(self, request: Request) -> Response:
        design = button_design_update(store=self.store, values=json_object(request), actor=self.actor)
        return Response({"data": button_design_json(design)})


# --- the public endpoint ----------------------------------------------------------------------


class _JsonWhateverAccepted(BaseContentNegotiation):
    """JSON whatever the Accept header or a `format` parameter asks for: never a 406 to a browser."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))  # JSON: the one renderer of every view (settings)
        return renderer, renderer.media_type


KEY_PARAMETERS = [
    OpenApiParameter(
        "key", {"type": "string", "maxLength": 100}, description="The store's publishable key (gvk_pub_…)."
    ),
    OpenApiParameter(
        "X-API-Key",
        {"type": "string", "maxLength": 100},
        OpenApiParameter.HEADER,
        description="The publishable key, when `key` is not in the query.",
    ),
]


class WidgetButtonDesignView(APIView):
    """GET ?key=<publishable key> (or X-API-Key): the store's design, or the defaults for any
    other key, none, or junk. Always 200 JSON to a GET, whatever happens behind it: the widget
    would only fall back to the defaults anyway, and an error in the shopper's console helps
    nobody. Reveals nothing but a design (no store id, name or key state)."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    content_negotiation_class = _JsonWhateverAccepted

    @extend_schema(
        operation_id="widget_button_design",
        auth=[],
        summary="The button design for the widget (public)",
        description="What widget.js reads once a browser session (SPEC §17). Public and CORS-open; always 200: "
        "an unknown, revoked or missing key, a secret key (never looked up: it must not be put in a URL) or any "
        "other text gets the defaults. `Cache-Control: public, max-age=60`; `no-store` on a default answered "
        "because this address read too many designs in a minute, or because the database was away.",
        parameters=KEY_PARAMETERS,
        responses={200: ButtonDesignEnvelope},
    )
    def get(self, request: Request) -> Response:
        design = _design_for(request)
        response = Response({"data": design.data})
        response["Cache-Control"] = f"public, max-age={PUBLIC_DESIGN_TTL_SECONDS}" if design.cacheable else "no-store"
        patch_vary_headers(response, ["X-API-Key"])
        return response

    # DRF hands its Request to every handler; Django's stubs type View.options with an HttpRequest.
    def options(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        response = Response(status=204)
        response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response["Access-Control-Allow-Headers"] = "X-API-Key"
        response["Access-Control-Max-Age"] = "86400"
        return response

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response["Access-Control-Allow-Origin"] = "*"  # on the 405 of another method too
        return super().finalize_response(request, response, *args, **kwargs)


def _design_for(request: Request) -> PublicDesign:
    try:
        key = request.query_params.get("key") or request.headers.get("X-API-Key") or ""
        return public_button_design(key.strip(), ip=client_ip(request._request))
    except Exception:  # the database is away, or anything else: the defaults, never kept
        logger.exception("button design unavailable; serving the defaults")
        return PublicDesign(button_design_defaults(), cacheable=False)
