"""Genvoris settings. Every value comes from the environment (or `.env`), read here only."""

import contextlib
import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
INSECURE_SECRET_KEY = "insecure-development-key-change-me"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_SECRET_KEY)
if not DEBUG and SECRET_KEY == INSECURE_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is the insecure default while DEBUG is off. Set SECRET_KEY in the "
        "environment (see .env.example) or set DEBUG=true for local development."
    )
# Earlier keys, comma-separated, still accepted for what they signed (sessions, password-reset and
# invite links) while SECRET_KEY is rotated: new ones are signed with SECRET_KEY only.
SECRET_KEY_FALLBACKS = [k for k in env.list("SECRET_KEY_FALLBACKS", default=[]) if k]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "genvoris",
    "stores",
    "quotas",
    "tryon",
]

MIDDLEWARE = [
    # First: every request gets its id and one log line, timed over everything below (genvoris/logs.py).
    "genvoris.logs.RequestLogMiddleware",
    # /healthz and /readyz, before host validation and the HTTPS redirect (genvoris/health.py).
    "genvoris.health.HealthMiddleware",
    # /metrics, and every other request timed and counted by route (genvoris/metrics.py); removed
    # below when METRICS_ENABLED is off.
    "genvoris.metrics.MetricsMiddleware",
    "genvoris.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "genvoris.csp.SurfacePolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "genvoris.urls"
WSGI_APPLICATION = "genvoris.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock at BEGIN,
    # so two writers queue on the busy timeout instead of deadlocking on lock upgrade.
    with contextlib.suppress(OSError):  # an unwritable path fails later, as a 503, not at import
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds every rate-limit counter (genvoris/ratelimit.py), so it must be one store shared
# by every worker and host (Redis in production; genvoris.W001 warns when it is per process and
# WEB_CONCURRENCY > 1), and it must answer fast or not at all: each limiter fails open, and with
# these socket timeouts a dead or hung Redis costs a request 0.1 s per cache call, not redis-py's
# 5 s default. A CACHE_URL query (`?socket_timeout=0.2`) overrides them.
CACHE_SOCKET_TIMEOUT_SECONDS = 0.1


def cache_from_url(url: str) -> dict[str, Any]:
    config: dict[str, Any] = env.cache_url_config(url)
    if config["BACKEND"] == "django_redis.cache.RedisCache":
        options = config.setdefault("OPTIONS", {})
        options.setdefault("SOCKET_CONNECT_TIMEOUT", CACHE_SOCKET_TIMEOUT_SECONDS)
        options.setdefault("SOCKET_TIMEOUT", CACHE_SOCKET_TIMEOUT_SECONDS)
    return config


CACHES = {"default": cache_from_url(env.str("CACHE_URL", default="locmemcache://genvoris"))}
# gunicorn's worker processes (gunicorn.conf.py reads the same variable); here only the
# genvoris.W001 system check reads it.
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=4)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Merchant portal sign-in. django-axes refuses logins for a username from an address after
# AXES_FAILURE_LIMIT failures in a row, for AXES_COOLOFF_TIME; the pair (not the username alone)
# so that nobody can lock a merchant out by guessing against their email from elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Mail: the console in development (each message printed), EMAIL_URL in production, e.g.
# smtp+tls://user:password@smtp.example.com:587. Invites and password resets are sent from it.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Genvoris <no-reply@genvoris.org>")
# Where the links in those emails point: the portal's address as merchants reach it.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# A set-password link (invite or reset) works once, and for this long.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT_HOURS", default=72) * 3600
# Password-reset requests per address an hour (the answer never says whether an email exists).
PASSWORD_RESETS_PER_HOUR = env.int("PASSWORD_RESETS_PER_HOUR", default=10)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal"
LOGOUT_REDIRECT_URL = "login"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "stores.portal.sign_in_client_ip"
AXES_ENABLE_ADMIN = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Session and CSRF cookies travel over HTTPS only, even where TLS ends at a proxy and Django never
# redirects. Only plain-http development (`make run`, whose .env says SECURE_COOKIES=false) turns
# this off, since browsers other than Chrome drop Secure cookies from http://127.0.0.1.
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# HSTS is off until the operator opts in: once a browser has seen it, the host is https-only for
# SECURE_HSTS_SECONDS. includeSubDomains covers the subdomains of the host serving the header
# (portal.example.org), not its parent. Preload is a submission to the browsers' list for the
# whole registrable domain, which only its owner can decide (hence security.W021 is silenced).
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Content-Security-Policy (django-csp). Everything this server renders (the portal, sign-in, the
# admin, error pages) runs only its own static files: no inline script, style or handler
# attribute, nothing from another origin, never framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}
# Surfaces that run code we did not write for this page, by path prefix (genvoris/csp.py):
# - the demo storefront embeds widget.js as a merchant would: the widget styles its shadow root
#   with a <style> element and shows the shopper's photo (blob:) and the result (data:);
# - Swagger UI starts from drf-spectacular's inline script, which carries a per-response nonce
#   (templates/drf_spectacular/swagger_ui.html).
CONTENT_SECURITY_POLICY_BY_PATH: dict[str, dict[str, Any]] = {
    "/demo/": CONTENT_SECURITY_POLICY["DIRECTIVES"]
    | {"style-src": [SELF, UNSAFE_INLINE], "img-src": [SELF, "data:", "blob:"]},
    "/api/docs": CONTENT_SECURITY_POLICY["DIRECTIVES"] | {"script-src": [SELF, NONCE]},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Size, depth, NUL and lone surrogates bounded in one place (genvoris/jsonbody.py, SPEC §4).
    "DEFAULT_PARSER_CLASSES": ["genvoris.jsonbody.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "genvoris.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Budgets from the published security page, per API key.
    "DEFAULT_THROTTLE_RATES": {
        "customer_create": env.str("RATE_CUSTOMER_CREATE", default="100/min"),
        "session_mint": env.str("RATE_SESSION_MINT", default="1000/hour"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Genvoris API",
    "DESCRIPTION": (
        "Metered virtual try-on. `POST /api/tryon/track` is called by your try-on backend for every "
        "try-on; `/api/v1` lets your server manage plans, customers, usage, shopper sessions and webhook "
        "endpoints with their delivery logs. "
        "Every error is `{error, message, detail}` plus the fields its code defines."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Deep links put a link inside each operation's toggle button (axe: nested-interactive, a
    # control a screen reader cannot reach); without them the path is plain text in the button.
    # The "idea" highlighting theme is dark on white, 4.5:1 and more; the default's red numbers on
    # #333 are 3.45:1.
    "SWAGGER_UI_SETTINGS": {"deepLinking": False, "syntaxHighlight": {"theme": "idea"}},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "EndCustomerStatus": "quotas.serializers.STATUS_CHOICES",
        "WebhookDeliveryStatus": "stores.webhooks.serializers.STATUS_CHOICES",
        "WebhookEventType": "stores.webhooks.serializers.DELIVERY_EVENT_TYPES",
        "FunnelEventType": "tryon.models.WidgetEvent.Type",
    },
    "SCHEMA_PATH_PREFIX": "/api",
}

# Structured logs (SPEC §20, genvoris/logs.py): `json` is one object a line, for a log shipper;
# `plain` is for a developer's terminal. JSON unless DEBUG is on (docs/decisions.md, "Structured logs").
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "genvoris.logs.ContextFilter"}},
    "formatters": {
        "plain": {
            "()": "genvoris.logs.PlainFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(store)s %(key_prefix)s] %(message)s",
            "defaults": {"request_id": "-", "store": "-", "key_prefix": "-"},
        },
        "json": {"()": "genvoris.logs.JsonFormatter", "fmt": "%(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # httpx logs every URL it requests at INFO; a webhook URL may carry the merchant's token.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # django-axes logs "AXES: BEGIN …" at INFO on every start, so every manage.py command
        # wrote it to stderr; a command that succeeds must be silent there (issue 13).
        "axes": {"level": "WARNING"},
    },
}

# --- Genvoris -------------------------------------------------------------------------------
# Secrets shared with try-on backends; comma-separated so a new one can be added before the
# old one is removed. Empty means every internal-secret call is refused (fail closed).
TRYON_INTERNAL_SECRET = [s for s in env.list("TRYON_INTERNAL_SECRET", default=[]) if s]
GENVORIS_JWT_ISSUER = env.str("GENVORIS_JWT_ISSUER", default="https://genvoris.org")
GENVORIS_JWT_AUDIENCE = "genvoris-widget"
# The ISO 4217 currency credit packs are priced in (CreditPack.price_per_credit holds no currency).
BILLING_CURRENCY = env.str("BILLING_CURRENCY", default="USD").upper()
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
TRACK_MAX_BODY_BYTES = 64 * 1024
# Failed-authentication limits on the track endpoint (SPEC §3).
AUTH_FAILURE_LIMIT = env.int("AUTH_FAILURE_LIMIT", default=20)
AUTH_FAILURE_WINDOW_SECONDS = env.int("AUTH_FAILURE_WINDOW_SECONDS", default=300)
# How many reverse proxies in front of the app append to X-Forwarded-For (0: trust REMOTE_ADDR).
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
# The reference try-on backend (tryon/backend.py) behind widget.js. TRYON_TRACK_URL is where it
# reports each try-on; empty means this server itself, at the host the widget's request named.
TRYON_TRACK_URL = env.str("TRYON_TRACK_URL", default="")
# Dotted path of the class that makes try-on images; the default works offline (Pillow).
TRYON_GENERATOR = env.str("TRYON_GENERATOR", default="tryon.generators.CompositeGenerator")
# Generations per client address per minute: each one costs CPU before any check can refuse it.
TRYON_GENERATE_PER_MINUTE = env.int("TRYON_GENERATE_PER_MINUTE", default=30)
# Status answers read from the database (cache misses) per client address and key a minute, on the
# public paths (GET /status, POST /api/tryon/status). A plugin's proxy asks from one address for
# all its shoppers, hence generous; cached answers are not counted.
STATUS_PER_MINUTE = env.int("STATUS_PER_MINUTE", default=600)
# Funnel event requests (each up to 50 events) per client address and key a minute, on
# POST /api/v1/events and /api/tryon/events. A shopper's widget sends a few; a merchant's server
# reporting for everyone sends from one address, hence generous.
EVENTS_PER_MINUTE = env.int("EVENTS_PER_MINUTE", default=300)

# Prometheus metrics (genvoris/metrics.py). GET /metrics answers addresses in METRICS_ALLOWED_IPS
# (CIDRs; the client as NUM_PROXIES sees it) and callers with `Authorization: Bearer <METRICS_TOKEN>`
# (comma-separated to rotate, new,old; empty: no token is accepted). METRICS_ENABLED=false serves no /metrics and counts no request or
# try-on: the track path without metrics, as bench/track.py --metrics compares.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1/32", "::1/128"])
try:
    for _cidr in METRICS_ALLOWED_IPS:
        ipaddress.ip_network(_cidr, strict=False)
except ValueError as _bad:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_bad}") from None
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if not METRICS_ENABLED:
    MIDDLEWARE.remove("genvoris.metrics.MetricsMiddleware")
# Where every process of this host (gunicorn's workers, the webhook worker) writes its samples so a
# scrape sums them: prometheus_client reads the variable itself. gunicorn.conf.py makes one for its
# workers when it is unset; set it to one directory for web and worker (docs/deploy.md).
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if "PROMETHEUS_MULTIPROC_DIR" in os.environ and not PROMETHEUS_MULTIPROC_DIR:
    # prometheus_client would write its files to the working directory.
    raise ImproperlyConfigured("PROMETHEUS_MULTIPROC_DIR is set but empty: unset it or name a directory.")
if PROMETHEUS_MULTIPROC_DIR:
    with contextlib.suppress(OSError):  # an unusable directory fails loudly at the first metric
        Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
