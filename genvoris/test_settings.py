"""Settings for the test suite: the real settings with fast hashing and fixed secrets."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("TRYON_INTERNAL_SECRET", "test-internal-secret,test-internal-secret-next")
# Metrics in this process (genvoris/metrics.py), whatever the shell running the tests exports.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
# Set in the environment itself (a test's worker subprocess does), not by a local .env.
_PRIVATE_WEBHOOKS = os.environ.get("WEBHOOK_ALLOW_PRIVATE_URLS", "").lower() == "true"

from genvoris.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic
# Production's rule whatever a local .env says; the tests that deliver to 127.0.0.1 lift it themselves.
WEBHOOK_ALLOW_PRIVATE_URLS = _PRIVATE_WEBHOOKS
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
