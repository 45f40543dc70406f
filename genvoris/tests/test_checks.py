"""genvoris.checks: a warning when rate limits would not be shared by every worker."""

from io import StringIO
from typing import Any

import pytest
from django.core import checks
from django.core.checks import run_checks
from django.core.management import call_command

from genvoris.settings import cache_from_url
from genvoris.tests.caches import TEST_REDIS

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def ours() -> list[str]:
    return [m.id for m in run_checks() if m.id and m.id.startswith("genvoris.")]


@pytest.mark.parametrize(
    ("cache", "workers", "ids"),
    [
        (LOCMEM, 4, ["genvoris.W001"]),
        (LOCMEM, 1, []),
        ({"BACKEND": "django.core.cache.backends.dummy.DummyCache"}, 1, ["genvoris.W002"]),
        (cache_from_url(TEST_REDIS), 4, []),
        (cache_from_url("filecache:///var/tmp/genvoris"), 4, []),  # shared by one host's workers
    ],
)
def test_shared_cache_check(settings: Any, cache: dict[str, Any], workers: int, ids: list[str]) -> None:
    settings.CACHES = {"default": cache}
    settings.WEB_CONCURRENCY = workers
    assert ours() == ids


def test_manage_py_check_tells_the_operator_what_to_set(settings: Any) -> None:
    settings.CACHES = {"default": LOCMEM}
    settings.WEB_CONCURRENCY = 4
    out, err = StringIO(), StringIO()
    call_command("check", stdout=out, stderr=err)
    assert "(genvoris.W001)" in err.getvalue()
    assert "WEB_CONCURRENCY is 4" in err.getvalue()
    assert "CACHE_URL=redis://" in err.getvalue()
    assert isinstance(next(m for m in run_checks() if m.id == "genvoris.W001"), checks.Warning)


@pytest.mark.parametrize(("allowed", "ids"), [(True, ["genvoris.W003"]), (False, [])])
def test_check_deploy_warns_when_webhooks_may_reach_private_addresses(
    settings: Any, allowed: bool, ids: list[str]
) -> None:
    settings.CACHES = {"default": LOCMEM}
    settings.WEB_CONCURRENCY = 1
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = allowed
    found = [m.id for m in run_checks(include_deployment_checks=True) if m.id and m.id.startswith("genvoris.")]
    assert found == ids
    assert "genvoris.W003" not in ours()  # a development setting: only `check --deploy` mentions it
