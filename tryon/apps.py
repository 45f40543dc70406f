from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class TryonConfig(AppConfig):
    name = "tryon"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stores.webhooks.worker import register_outbox_source
        from tryon.services.webhooks import tryon_webhooks_dispatch

        checks.register(internal_secret_check)
        checks.register(tryon_backend_check)
        # Committed try-ons are the outbox of the tryon.* events (tryon/services/webhooks.py).
        register_outbox_source(tryon_webhooks_dispatch)


def internal_secret_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.TRYON_INTERNAL_SECRET:
        return []
    return [
        checks.Warning(
            "TRYON_INTERNAL_SECRET is empty: POST /api/tryon/track refuses every x-internal-secret call.",
            hint="Set TRYON_INTERNAL_SECRET (comma-separated to rotate) to the secret your try-on backend sends.",
            id="tryon.W001",
        )
    ]


def tryon_backend_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """The reference backend's settings, checked at start-up rather than on a shopper's first try-on."""
    from django.core.exceptions import ImproperlyConfigured

    from tryon.generators import generator

    problems: list[checks.CheckMessage] = []
    try:
        generator()
    except ImproperlyConfigured as error:
        problems.append(checks.Error(str(error), hint="Name a class with a generate() method.", id="tryon.E001"))
    url = urlsplit(settings.TRYON_TRACK_URL) if settings.TRYON_TRACK_URL else None
    if url is not None and (url.scheme not in ("http", "https") or not url.hostname):
        # The internal secret goes to this URL; it must name its host, never borrow a request's.
        problems.append(
            checks.Error(
                f"TRYON_TRACK_URL {settings.TRYON_TRACK_URL!r} is not an absolute http(s) URL.",
                hint="Leave it empty to run the track service in-process, or give the full URL of a track endpoint.",
                id="tryon.E002",
            )
        )
    return problems
