"""Authentication of merchant servers on /api/v1 with a secret store key (SPEC §6)."""

from typing import Any

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from genvoris import ratelimit
from genvoris.errors import ApiError, ErrorCode
from genvoris.jsonbody import BoundedJSONParser
from stores.models import ApiKey, Store
from stores.selectors import api_key_by_plaintext
from stores.services import Actor, api_key_mark_used, store_suspended_error


def store_key_from_header(authorization: str) -> ApiKey:
    """The active secret key named by `Authorization: Bearer gvk_live_…`, or the right refusal."""
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise ApiError(
            ErrorCode.UNAUTHORIZED,
            "Authenticate with Authorization: Bearer <secret store key>.",
            detail="The Authorization header is missing or is not a Bearer credential.",
        )
    key = api_key_by_plaintext(credential.strip())
    if key is None or not key.is_usable:
        raise ApiError(
            ErrorCode.INVALID_KEY, "The API key is not valid.", detail="No active key matches this credential."
        )
    if not key.store.is_active:
        raise store_suspended_error(key.store)
    if key.kind != ApiKey.Kind.SECRET:
        raise ApiError(
            ErrorCode.INSUFFICIENT_SCOPE,
            "Publishable keys cannot use the REST API; use a secret key (gvk_live_…).",
        )
    return key


class StoreKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to the ApiKey; its store is `request.auth.store`."""

    def authenticate(self, request: Request) -> tuple[None, ApiKey]:
        key = store_key_from_header(request.headers.get("Authorization", ""))
        api_key_mark_used(key=key, now=timezone.now())
        return None, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="genvoris"'


class StoreKeyRateThrottle(SimpleRateThrottle):
    """A per-key budget; subclasses name it in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].

    Counted by genvoris.ratelimit.hit in a fixed window rather than by DRF's history list: one
    atomic increment, so workers sharing the cache cannot lose each other's counts in a
    read-modify-write race, and Retry-After is exactly the seconds left in the window. Fails open
    when the cache is down (logged): a cache outage must not take the merchant API down, and the
    budgets only bound load from an authenticated key (docs/decisions.md, "REST API v1").
    """

    num_requests: int | None  # set by SimpleRateThrottle.__init__ from the rate
    duration: int | None
    counted: ratelimit.Hit | None = None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request.auth
        if not isinstance(key, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": key.public_id}

    def allow_request(self, request: Request, view: Any) -> bool:
        cache_key = self.get_cache_key(request, view)
        if self.num_requests is None or self.duration is None or cache_key is None:
            return True
        self.counted = ratelimit.hit(cache_key, self.num_requests, self.duration)
        return self.counted is None or not self.counted.over_limit

    def wait(self) -> float | None:
        return self.counted.retry_after if self.counted else None


class StoreApiView(APIView):
    """A /api/v1 view: a secret key of an active store, JSON bodies bounded by genvoris.jsonbody."""

    authentication_classes = [StoreKeyAuthentication]
    parser_classes = [BoundedJSONParser]

    @property
    def store(self) -> Store:
        return self.request.auth.store  # type: ignore[union-attr]

    @property
    def actor(self) -> Actor:
        """The audit trail names the key (by its visible prefix) that made the change."""
        return Actor(f"api:{self.request.auth.prefix}")  # type: ignore[union-attr]
