"""Images the reference try-on backend accepts: the shopper's upload and the product's picture.

Both are checked by content, never by name or declared type, and both stay in memory: an upload
is a shopper's photo, and nothing of it may reach the disk (SPEC §8).
"""

import ipaddress
import posixpath
import socket
import time
from collections.abc import Iterator
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from PIL import Image, ImageOps, UnidentifiedImageError

from genvoris.errors import ApiError, ErrorCode

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 25_000_000
FORMATS = ("JPEG", "PNG", "WEBP")
FETCH_TIMEOUT_SECONDS = 8.0
MAX_REDIRECTS = 3


def too_large(field: str, message: str) -> ApiError:
    return ApiError(ErrorCode.PAYLOAD_TOO_LARGE, message, fieldErrors={field: [message]})


# --- the upload, in memory only ----------------------------------------------------------------


class MemoryOnlyUploadHandler(FileUploadHandler):
    """Keeps every uploaded file in memory, whatever its size, up to `limit` bytes each.

    Django's default handlers spill files over 2.5 MB to a temporary file on disk. This one never
    does: past the limit it stops the upload (the rest of the body is read and dropped) and sets
    `exceeded`, which the view answers with 413.
    """

    def __init__(self, request: Any = None, limit: int = MAX_IMAGE_BYTES) -> None:
        super().__init__(request)
        self.limit = limit
        self.exceeded = False
        self.buffer = BytesIO()

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


# --- checking an image by its content ----------------------------------------------------------


def open_image(data: bytes, *, field: str) -> Image.Image:
    """Decode a JPEG, PNG or WebP, upright (EXIF orientation applied), in RGB or RGBA.

    The pixel count is read from the header and checked before anything is decompressed, so a
    small file that declares a huge canvas (a decompression bomb) costs nothing.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise too_large(field, f"The image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB.")
    try:
        image = Image.open(BytesIO(data), formats=FORMATS)
        if image.width * image.height > MAX_PIXELS:
            raise too_large(field, f"The image is larger than {MAX_PIXELS // 1_000_000} megapixels.")
        image.load()
        upright = ImageOps.exif_transpose(image)
    except UnidentifiedImageError:
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "The file is not a JPEG, PNG or WebP image.",
            fieldErrors={field: ["Send a JPEG, PNG or WebP image."]},
        ) from None
    except Image.DecompressionBombError:  # Pillow's own, far larger, limit: refused at open
        raise too_large(field, f"The image is larger than {MAX_PIXELS // 1_000_000} megapixels.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ApiError(
            ErrorCode.INVALID_BODY,
            "The image could not be read; it may be damaged.",
            fieldErrors={field: ["The image is damaged or incomplete."]},
        ) from None
    return upright.convert("RGBA" if _has_alpha(upright) else "RGB")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


# --- fetching the product image ----------------------------------------------------------------


def fetch_product_image(url: str, *, own_origin: str) -> bytes:
    """The bytes of the product image at `url` (absolute, or relative to this server).

    An image under this server's STATIC_URL is read from the static files, not over the network:
    that is how the demo and the tests get theirs. Anything else is fetched with SSRF care:
    http(s) only, public addresses only (unless WEBHOOK_ALLOW_PRIVATE_URLS or DEBUG), no more
    than MAX_IMAGE_BYTES, MAX_REDIRECTS redirects (each checked again) and FETCH_TIMEOUT_SECONDS.
    """
    absolute = urljoin(own_origin + "/", url.strip())
    local = _static_file(absolute, own_origin)
    if local is not None:
        return local
    try:
        return _fetch_public(absolute)
    except httpx.HTTPError as error:  # refused, timed out, bad TLS, malformed answer
        raise _product_error(f"The image could not be downloaded ({type(error).__name__}).") from None


def _product_error(message: str) -> ApiError:
    return ApiError(
        ErrorCode.INVALID_BODY,
        "The product image could not be loaded.",
        detail=f"The product image could not be loaded: {message}",
        fieldErrors={"product_image": [message]},
    )


def _static_file(url: str, own_origin: str) -> bytes | None:
    prefix = urljoin(own_origin + "/", settings.STATIC_URL)
    if not url.startswith(prefix):
        return None
    name = posixpath.normpath(unquote(urlsplit(url).path[len(urlsplit(prefix).path) :]))
    if name.startswith(("..", "/")) or name == ".":
        raise _product_error("No such static file.")
    try:
        if staticfiles_storage.exists(name):
            with staticfiles_storage.open(name) as handle:
                return _read_limited(iter(lambda: handle.read(65536), b""))
        found = finders.find(name)
    except SuspiciousFileOperation:
        found = None
    if not isinstance(found, str):
        raise _product_error("No such static file.")
    with open(found, "rb") as handle:
        return _read_limited(iter(lambda: handle.read(65536), b""))


def _read_limited(chunks: Iterator[bytes]) -> bytes:
    buffer = BytesIO()
    for chunk in chunks:
        buffer.write(chunk)
        if buffer.tell() > MAX_IMAGE_BYTES:
            raise too_large("product_image", f"The product image is larger than {MAX_IMAGE_BYTES // 2**20} MB.")
    return buffer.getvalue()


def private_addresses_allowed() -> bool:
    return bool(settings.WEBHOOK_ALLOW_PRIVATE_URLS or settings.DEBUG)


def public_address(host: str, port: int) -> str:
    """One address of `host`, refusing the host if any of its addresses is not public.

    The caller connects to this very address (not to the name again), so a DNS answer that
    changes between the check and the connection (rebinding) cannot reach an internal service.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _product_error(f"The host {host} could not be resolved.") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise _product_error(f"The host {host} could not be resolved.")
    if not private_addresses_allowed() and not all(address.is_global for address in addresses):
        raise _product_error(f"The host {host} is not a public address.")
    return str(addresses[0])


def _fetch_public(url: str) -> bytes:
    deadline = time.monotonic() + FETCH_TIMEOUT_SECONDS
    with httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            response = client.send(_pinned_request(client, url), stream=True)
            try:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise _product_error(f"The server answered {response.status_code}.")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_IMAGE_BYTES:
                    raise too_large("product_image", "The product image is larger than 10 MB.")
                return _read_limited(_until(deadline, response.iter_bytes()))
            finally:
                response.close()
    raise _product_error("Too many redirects.")


def _pinned_request(client: httpx.Client, url: str) -> httpx.Request:
    """A GET of `url` sent to the checked address, with the name kept for Host and TLS (SNI)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _product_error("Only http and https URLs can be fetched.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _product_error("The URL's port is not valid.") from None
    address = public_address(parts.hostname, port)
    literal = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return client.build_request(
        "GET",
        pinned,
        headers={"Host": host, "Accept": "image/*"},
        extensions={"sni_hostname": parts.hostname},
    )


def _until(deadline: float, chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        if time.monotonic() > deadline:
            raise _product_error("The image took too long to download.")
        yield chunk
