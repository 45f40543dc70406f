"""Settings for the bench's gunicorn: the project's own, plus the raw-SQL baseline route."""

from genvoris.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baseline_urls"
