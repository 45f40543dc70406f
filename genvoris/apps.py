from django.apps import AppConfig
from django.core import checks
from django.urls import register_converter


class GenvorisConfig(AppConfig):
    name = "genvoris"

    def ready(self) -> None:
        from django.contrib import admin

        from genvoris.admin import guard_changelists
        from genvoris.checks import console_mail_check, shared_cache_check, webhook_targets_check
        from genvoris.ids import PublicIdConverter

        # Here rather than in a URLconf: the portal URLs of every app use it, and a converter may
        # be registered only once.
        register_converter(PublicIdConverter, "public_id")
        # django.contrib.admin comes first in INSTALLED_APPS: its ready() has imported every app's
        # admin module, so every ModelAdmin (Django's and django-axes' too) is registered by now.
        guard_changelists(admin.site)
        checks.register(shared_cache_check)
        checks.register(webhook_targets_check, checks.Tags.security, deploy=True)
        checks.register(console_mail_check, checks.Tags.security, deploy=True)
