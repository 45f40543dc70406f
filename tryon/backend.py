"""The reference try-on backend: the endpoint widget.js posts to (SPEC §8).

It plays the part of "your try-on backend" in the published flow. With `TRYON_TRACK_URL` set it
reports to that absolute URL exactly as a merchant's own backend would: x-internal-secret, the
store key in the body, and one Idempotency-Key per generation, so its one retry can never charge
twice. With it empty it runs the track service in-process (SPEC §18): the same checks, the same
idempotency and the same transaction, and never an HTTP call to its own server — which would hold
one worker while it waits for another, and take its URL from the request's Host header.

POST /api/tryon/generate, multipart: `photo` (file), `product_image` (URL), `api_key`, and
optionally `end_customer_token`, `product_title`, `product_category`, `page_url`, `widget_session_id`
(the widget's visit id, SPEC §16). It answers
`{"success": true, "image": "data:image/jpeg;base64,…", "variation_count", "generation_time_ms",
"end_customer_quota"?}`, or the error envelope, with track's own status and code when track
refused the try-on.
"""

import base64
import json
import logging
import time
import uuid
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import httpx
from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.validators import RegexValidator
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from PIL import Image

from genvoris import ratelimit
from genvoris.api import UNAVAILABLE, error_response
from genvoris.errors import ApiError, ErrorCode
from genvoris.ratelimit import check_auth_failures, client_ip, record_auth_failure
from stores.models import ApiKey
from stores.selectors import api_key_by_plaintext
from tryon.generators import TryOnRequest, generator
from tryon.images import MAX_IMAGE_BYTES, MemoryOnlyUploadHandler, fetch_product_image, open_image, too_large
from tryon.metrics import track_answered, track_refused
from tryon.models import TryOnEvent
from tryon.services import TrackRequest, tryon_track
from tryon.services.report import WIDGET_SESSION_ID, WIDGET_SESSION_ID_RULE
from tryon.services.track import CREDENTIAL_REFUSALS

logger = logging.getLogger("genvoris.tryon.backend")

MAX_BODY_BYTES = MAX_IMAGE_BYTES + 64 * 1024  # one photo and a few short text fields
TRACK_TIMEOUT_SECONDS = 10.0
RETRY_DELAY_SECONDS = 0.25
IN_PROCESS_ATTEMPTS = 3


class GenerateForm(forms.Form):
    api_key = forms.CharField(max_length=200)
    product_image = forms.CharField(max_length=2048)
    end_customer_token = forms.CharField(max_length=8192, required=False)
    product_title = forms.CharField(max_length=300, required=False)
    product_category = forms.CharField(max_length=40, required=False)
    page_url = forms.CharField(max_length=2048, required=False)
    # Checked here as track checks it, so a malformed id is refused before the generation runs
    # rather than by track after it.
    widget_session_id = forms.CharField(
        max_length=64,
        required=False,
        strip=False,
        validators=[RegexValidator(WIDGET_SESSION_ID, WIDGET_SESSION_ID_RULE)],
    )


@dataclass(frozen=True)
class Upload:
    fields: dict[str, str]
    photo: bytes


@csrf_exempt  # called cross-site by design; no cookie or session is read, so nothing can be forged
def generate_view(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type, Accept, Accept-Language, X-Request-Id"
        response["Access-Control-Max-Age"] = "7200"
    elif request.method != "POST":
        response = error_response(ApiError(ErrorCode.METHOD_NOT_ALLOWED, "Use POST with a multipart body."))
        response["Allow"] = "POST, OPTIONS"
    else:
        try:
            response = JsonResponse(generate(request))
        except ApiError as error:
            response = error_response(error)
        except (OperationalError, InterfaceError):
            logger.exception("database unavailable during a generation")
            response = error_response(UNAVAILABLE)
        except Exception:
            # Answered here rather than by Django's handler so that the answer keeps its CORS
            # headers: without them the widget could only say "network error".
            logger.exception("generation failed unexpectedly")
            response = error_response(
                ApiError(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side; nothing was charged.")
            )
    return with_cors(request, response)


def with_cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Any origin may call: no credentials are accepted, and the key's domain allowlist is
    enforced by track on the Origin the browser sent, which page scripts cannot forge."""
    origin = request.headers.get("Origin")
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After, X-Request-Id"
    patch_vary_headers(response, ["Origin"])
    return response


def generate(request: HttpRequest) -> dict[str, Any]:
    """Limits, the upload, the key, both images, the generation, then the accounting."""
    ip = client_ip(request)
    check_auth_failures(ip)
    check_generate_rate(ip)
    check_configured()
    upload = read_upload(request)
    check_key(upload.fields["api_key"], ip)
    photo = open_image(upload.photo, field="photo")
    own_origin = request.build_absolute_uri("/").rstrip("/")
    product = open_image(
        fetch_product_image(upload.fields["product_image"], own_origin=own_origin), field="product_image"
    )
    report = track_body(upload.fields, origin=request.headers.get("Origin", ""))
    idempotency_key = f"gen_{uuid.uuid4().hex}"
    started = time.monotonic()
    try:
        # Encoded before the accounting: once a try-on is charged, nothing may still fail that
        # would make the shopper hear "nothing was charged" (SPEC §18).
        images = [data_url(image) for image in run_generator(photo, product, report)]
    except Exception:
        logger.exception("generator %s failed", settings.TRYON_GENERATOR)
        report_failure(report, idempotency_key, started, ip)
        raise ApiError(
            ErrorCode.UNAVAILABLE,
            "The try-on could not be made this time; nothing was charged. Please try again.",
            detail="The image generator failed; the try-on was reported as failed and not charged.",
        ) from None
    report.update(variation_count=len(images), generation_time_ms=_elapsed_ms(started), success=True)
    accounted = account(report, idempotency_key, ip)
    return answer(images, accounted, report["generation_time_ms"])


# --- limits ------------------------------------------------------------------------------------


def check_generate_rate(ip: str) -> None:
    """Each generation costs CPU before any check can refuse it: a budget per address and minute,
    shared by every worker through the cache, failing open if the cache is away (logged)."""
    ratelimit.enforce(
        f"tryon-generate:{ip}",
        limit=settings.TRYON_GENERATE_PER_MINUTE,
        window_seconds=60,
        message="Too many try-ons from this address. Retry after the number of seconds in Retry-After.",
    )


def check_configured() -> None:
    """Over HTTP, the backend needs the shared secret; in-process it is the track service's caller."""
    if settings.TRYON_TRACK_URL and not settings.TRYON_INTERNAL_SECRET:
        logger.error("TRYON_INTERNAL_SECRET is empty: the try-on backend cannot report to TRYON_TRACK_URL")
        raise _not_configured("TRYON_INTERNAL_SECRET is empty.")


def _not_configured(detail: str) -> ApiError:
    return ApiError(ErrorCode.UNAVAILABLE, "Virtual try-on is not available right now.", detail=detail)


# --- the upload --------------------------------------------------------------------------------


def read_upload(request: HttpRequest) -> Upload:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise too_large("photo", f"The photo is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB.")
    if request.content_type != "multipart/form-data":
        raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the photo as multipart/form-data.")
    handler = MemoryOnlyUploadHandler(request)
    request.upload_handlers = [handler]  # never a temporary file on disk
    try:
        photo = request.FILES.get("photo")
        data = request.POST
    except (MultiPartParserError, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent):
        raise ApiError(ErrorCode.INVALID_BODY, "The multipart body could not be read.") from None
    if handler.exceeded:
        raise too_large("photo", f"The photo is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB.")
    form = GenerateForm(data)
    errors = {} if form.is_valid() else {field: list(messages) for field, messages in form.errors.items()}
    if photo is None:
        errors["photo"] = ["Attach the shopper's photo as a file."]
    if errors:
        first = next(iter(errors))
        raise ApiError(
            ErrorCode.INVALID_BODY, "The request is invalid.", detail=f"{first}: {errors[first][0]}", fieldErrors=errors
        )
    assert photo is not None
    return Upload(fields=form.cleaned_data, photo=photo.read())


def check_key(text: str, ip: str) -> None:
    """A key that cannot be a usable key is refused here, before any work and before track.

    Track counts failed authentications per calling address, and every call from this backend
    comes from the same address: relaying strangers' bad keys would soon lock this backend out
    for every store. So bad keys are counted against the shopper's address instead.
    """
    key = api_key_by_plaintext(text)
    if key is None or not key.is_usable:
        record_auth_failure(ip)
        raise ApiError(ErrorCode.INVALID_KEY, "The API key is not valid.", detail=_key_problem(key))


def _key_problem(key: ApiKey | None) -> str:
    if key is None:
        return "No such API key: check the widget's data-api-key."
    return "This API key is revoked or locked; the store can re-enable it in the portal."


# --- generation --------------------------------------------------------------------------------


def track_body(fields: dict[str, str], *, origin: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "api_key": fields["api_key"],
        "product_type": product_type(fields["product_category"]),
        "page_url": fields["page_url"],
        "product_title": fields["product_title"],
        "origin": origin,
    }
    if fields["end_customer_token"]:
        body["end_customer_token"] = fields["end_customer_token"]
    if fields.get("widget_session_id"):
        body["widget_session_id"] = fields["widget_session_id"]
    return body


def product_type(category: str) -> str:
    """data-product-category is one of track's product types; empty is apparel, anything else other."""
    value = category.strip().lower()
    if not value:
        return TryOnEvent.ProductType.APPAREL.value
    return value if value in TryOnEvent.ProductType.values else TryOnEvent.ProductType.OTHER.value


def run_generator(photo: Image.Image, product: Image.Image, report: dict[str, Any]) -> list[Image.Image]:
    images = generator().generate(
        TryOnRequest(
            photo=photo, product=product, product_type=report["product_type"], product_title=report["product_title"]
        )
    )
    if not images or len(images) > 16:
        raise ValueError(f"the generator returned {len(images)} images; 1 to 16 expected")
    return images


def report_failure(report: dict[str, Any], idempotency_key: str, started: float, ip: str) -> None:
    failed = {**report, "success": False, "variation_count": 1, "generation_time_ms": _elapsed_ms(started)}
    try:
        account(failed, idempotency_key, ip)
    except ApiError as refused:
        # Logged; the shopper is told the try-on failed either way, and nothing was charged.
        logger.warning("track refused a failure report: %s %s", refused.status, refused.code)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- the accounting: in-process, or over HTTP to TRYON_TRACK_URL ------------------------------


def account(report: dict[str, Any], idempotency_key: str, ip: str) -> dict[str, Any]:
    """Track's 200 body for this report, or its refusal raised with track's status and code."""
    if settings.TRYON_TRACK_URL:
        return relay(call_track(str(settings.TRYON_TRACK_URL), report, idempotency_key), ip)
    return account_in_process(report, idempotency_key, ip)


def account_in_process(report: dict[str, Any], idempotency_key: str, ip: str) -> dict[str, Any]:
    """The track service itself, with this generation's key. A database error leaves the outcome
    unknown (a COMMIT can succeed and its answer be lost), so it is asked again with the same key
    — which replays what committed, or records it once — before the shopper is told anything."""
    raw = json.dumps(report).encode()
    request = TrackRequest(
        read_body=lambda: raw,
        internal_secret=None,
        authorization="",
        origin=None,  # the browser's Origin is in the report
        idempotency_key=idempotency_key,
        client_ip=ip,
        in_process=True,
    )
    for attempt in range(1, IN_PROCESS_ATTEMPTS + 1):
        try:
            result = tryon_track(request=request, now=timezone.now())
            break
        except ApiError as refused:
            track_refused(refused)
            if refused.code in CREDENTIAL_REFUSALS:
                record_auth_failure(ip)
            raise
        except (OperationalError, InterfaceError) as error:
            logger.warning("track in-process failed (attempt %s, key %s): %s", attempt, idempotency_key, error)
            _drop_broken_connection()
            if attempt == IN_PROCESS_ATTEMPTS:
                raise _outcome_unknown() from None
            time.sleep(RETRY_DELAY_SECONDS * attempt)
    track_answered(result)
    if result.status == 200:
        return result.body
    raise _refusal(result.status, result.body)


def _drop_broken_connection() -> None:
    """A connection the database dropped is closed, so the next attempt opens a new one."""
    if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
        connection.close()


def _outcome_unknown(detail: str = "The database did not answer; the try-on may or may not be recorded.") -> ApiError:
    """The shopper is never told "nothing was charged" unless nothing was (SPEC §18)."""
    return ApiError(
        ErrorCode.UNAVAILABLE,
        "We could not confirm this try-on. Please try again in a moment.",
        detail=detail,
        headers={"Retry-After": "2"},
        outcome="unknown",
    )


def _refusal(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> ApiError:
    extra = {k: v for k, v in body.items() if k not in ("error", "message", "detail")}
    error = ApiError(
        ErrorCode(body["error"]),
        str(body.get("message", "")),
        detail=str(body.get("detail", "")),
        headers=headers,
        **extra,
    )
    error.status = status
    return error


# --- the track call over HTTP ------------------------------------------------------------------


def track_client() -> httpx.Client:
    # trust_env=False: the shared secret goes straight to TRYON_TRACK_URL, never via an env proxy.
    return httpx.Client(timeout=TRACK_TIMEOUT_SECONDS, trust_env=False)


def call_track(url: str, body: dict[str, Any], idempotency_key: str) -> httpx.Response:
    """POST the report; once more, with the same key, after a network error or a 503."""
    headers = {"x-internal-secret": settings.TRYON_INTERNAL_SECRET[0], "Idempotency-Key": idempotency_key}
    with track_client() as client:
        for attempt in (1, 2):
            try:
                response = client.post(url, json=body, headers=headers)
            except httpx.TransportError as error:
                logger.warning("track call %s failed (attempt %s): %s", idempotency_key, attempt, error)
                if attempt == 2:
                    raise _unrecorded() from None
            else:
                if response.status_code != 503 or attempt == 2:
                    return response
                logger.warning("track answered 503 to %s; retrying once", idempotency_key)
            time.sleep(RETRY_DELAY_SECONDS)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _unrecorded() -> ApiError:
    """Track could not be reached twice, or answered no envelope. A request that reached it and
    lost its answer may have been recorded, so nothing is promised about the charge."""
    return _outcome_unknown("The track endpoint could not be reached or did not answer in the documented envelope.")


def relay(response: httpx.Response, ip: str) -> dict[str, Any]:
    """Track's 200 body, or its error raised again with the same status, code and fields."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and body.get("success") is True:
        return body
    code = body.get("error") if isinstance(body, dict) else None
    if code not in {known.value for known in ErrorCode}:
        logger.error("track answered %s without an error envelope: %s", response.status_code, response.text[:300])
        raise _unrecorded()
    assert isinstance(body, dict)
    if code == ErrorCode.UNAUTHORIZED:
        logger.error("track refused this backend's x-internal-secret: check TRYON_INTERNAL_SECRET")
    if code in CREDENTIAL_REFUSALS:
        record_auth_failure(ip)
    headers = {"Retry-After": response.headers["Retry-After"]} if "Retry-After" in response.headers else {}
    raise _refusal(response.status_code, body, headers)


def answer(images: list[str], accounted: dict[str, Any], generation_time_ms: int) -> dict[str, Any]:
    """The store's credit balance stays between the store and Genvoris: shoppers get their quota.
    `images` are data: URLs, encoded before the try-on was accounted."""
    body: dict[str, Any] = {
        "success": True,
        "image": images[0],
        "variation_count": len(images),
        "generation_time_ms": generation_time_ms,
    }
    if len(images) > 1:
        body["images"] = images
    if "end_customer_quota" in accounted:
        body["end_customer_quota"] = accounted["end_customer_quota"]
    return body


def data_url(image: Image.Image) -> str:
    buffer = BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=88, optimize=True, progressive=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
