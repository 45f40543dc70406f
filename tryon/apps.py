from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class TryonConfig(AppConfig):
    name = "tryon"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(internal_secret_check)


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
