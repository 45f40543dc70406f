"""System checks of what the rate limits need from the deployment (SPEC §3: limits are shared by
every worker and host)."""

from typing import Any

from django.conf import settings
from django.core import checks

# Backends whose counts live inside one process. A file-based cache is shared by the workers of
# one host (not across hosts, which no setting here reveals); database, Memcached and Redis
# caches are shared by everyone.
PER_PROCESS_CACHES = {"django.core.cache.backends.locmem.LocMemCache"}
DUMMY_CACHE = "django.core.cache.backends.dummy.DummyCache"
SHARED_CACHE_HINT = "Set CACHE_URL=redis://<host>:6379/0 so every worker and host shares one count."


def shared_cache_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    backend = settings.CACHES["default"]["BACKEND"]
    if backend == DUMMY_CACHE:
        return [
            checks.Warning(
                "The cache is a dummy cache: it keeps nothing, so no rate limit is ever reached.",
                hint=SHARED_CACHE_HINT,
                id="genvoris.W002",
            )
        ]
    workers = settings.WEB_CONCURRENCY
    if backend in PER_PROCESS_CACHES and workers > 1:
        return [
            checks.Warning(
                f"The cache is local to each process and WEB_CONCURRENCY is {workers}: under gunicorn each "
                f"worker counts rate limits alone, so a limit lets through up to {workers} times its budget.",
                hint=f"{SHARED_CACHE_HINT} (A single process, such as runserver or WEB_CONCURRENCY=1, "
                "may keep the local cache.)",
                id="genvoris.W001",
            )
        ]
    return []


def webhook_targets_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """`check --deploy`: endpoints allowed to name private addresses could reach this network."""
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return []
    return [
        checks.Warning(
            "WEBHOOK_ALLOW_PRIVATE_URLS is true: a merchant's webhook endpoint may be plain http and name "
            "loopback, private or cloud-metadata addresses, so deliveries can reach this network.",
            hint="Set WEBHOOK_ALLOW_PRIVATE_URLS=false outside development.",
            id="genvoris.W003",
        )
    ]


CONSOLE_MAIL = "django.core.mail.backends.console.EmailBackend"


def console_mail_check(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """`check --deploy`: mail printed on stdout puts every set-password link in the logs."""
    if settings.EMAIL_BACKEND != CONSOLE_MAIL:
        return []
    return [
        checks.Warning(
            "EMAIL_URL is consolemail:// (the default): invites and password resets are printed on stdout, "
            "so every set-password link, a credential until it is used, lands in the logs.",
            hint="Set EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 outside development.",
            id="genvoris.W004",
        )
    ]
