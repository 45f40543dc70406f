"""Try-on image generators. The backend uses the class named by settings.TRYON_GENERATOR.

A generator is any class with a no-argument constructor and a `generate` method of the shape of
`Generator.generate`. The default, `CompositeGenerator`, needs nothing but Pillow, so the whole
flow (widget → backend → track) runs offline; a real model plugs in by dotted path.
"""

import functools
from dataclasses import dataclass
from typing import Protocol, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from PIL import Image, ImageChops, ImageFilter, ImageOps

MAX_SIDE = 1024  # the longest side of a result; larger photos are scaled down first


@dataclass(frozen=True)
class TryOnRequest:
    photo: Image.Image  # the shopper, upright, RGB or RGBA
    product: Image.Image  # the product picture, RGB or RGBA
    product_type: str  # apparel | home | object | other
    product_title: str


class Generator(Protocol):
    def generate(self, request: TryOnRequest) -> list[Image.Image]:
        """One or more variations (the first is shown); raise any exception to report a failure."""
        ...


class CompositeGenerator:
    """Lays the product over the photo: centred on the torso for apparel, in a lower corner else.

    A product picture without transparency gets its near-white background keyed out, since most
    catalogue shots are on white.
    """

    def generate(self, request: TryOnRequest) -> list[Image.Image]:
        photo = request.photo.convert("RGB")
        photo.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        product = _cut_out(request.product)
        apparel = request.product_type == "apparel"
        product = _fit(product, photo.size, share=0.62 if apparel else 0.38)
        x, y = _placement(photo.size, product.size, apparel=apparel)
        shadow = _shadow(product)
        photo.paste((0, 0, 0), (x + 6, y + 10), shadow)
        photo.paste(product, (x, y), product)
        return [photo]


def _cut_out(product: Image.Image) -> Image.Image:
    rgba = product.convert("RGBA")
    lowest_alpha = cast(tuple[int, int], rgba.getchannel("A").getextrema())[0]
    if product.mode == "RGBA" and lowest_alpha < 250:
        return rgba  # already has a transparent background
    # Pixels within a small distance of white become transparent, with a soft edge.
    distance = ImageChops.difference(rgba.convert("RGB"), Image.new("RGB", rgba.size, "white")).convert("L")
    alpha = distance.point(lambda v: 0 if v < 12 else min(255, (v - 12) * 8)).filter(ImageFilter.GaussianBlur(0.8))
    rgba.putalpha(ImageChops.multiply(alpha, rgba.getchannel("A")))
    bbox = rgba.getchannel("A").getbbox()
    return rgba.crop(bbox) if bbox else rgba


def _fit(product: Image.Image, size: tuple[int, int], *, share: float) -> Image.Image:
    width, height = size
    box = (max(1, int(width * share)), max(1, int(height * share * 1.25)))
    return ImageOps.contain(product, box, Image.Resampling.LANCZOS)


def _placement(photo: tuple[int, int], product: tuple[int, int], *, apparel: bool) -> tuple[int, int]:
    (width, height), (w, h) = photo, product
    if apparel:  # below the face: the top of the garment a third of the way down
        return (width - w) // 2, min(int(height * 0.34), height - h)
    margin = int(min(width, height) * 0.05)
    return width - w - margin, height - h - margin


def _shadow(product: Image.Image) -> Image.Image:
    alpha = product.getchannel("A").point(lambda v: v * 0.35)
    return alpha.filter(ImageFilter.GaussianBlur(8))


@functools.cache
def _generator_class(path: str) -> type[Generator]:
    try:
        cls = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(f"TRYON_GENERATOR {path!r} cannot be imported: {error}") from None
    if not callable(getattr(cls, "generate", None)):
        raise ImproperlyConfigured(f"TRYON_GENERATOR {path!r} has no generate() method.")
    return cls


def generator() -> Generator:
    """A fresh instance of the configured class (instances may keep per-request state)."""
    return _generator_class(settings.TRYON_GENERATOR)()
