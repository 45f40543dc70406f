"""genvoris.ratelimit: fixed windows in the cache, exact Retry-After, fail open with a deadline."""

from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import Persona, Track
from genvoris import ratelimit
from genvoris.errors import ApiError
from genvoris.settings import cache_from_url
from genvoris.tests.caches import dead_cache, hung_cache, shared_redis
from quotas.tests.test_api_plans import assert_error

MOMENT = datetime(2026, 12, 1, 12, 0, 17, 400_000, tzinfo=UTC)  # 42.6 s left in its minute


@pytest.fixture
def frozen(time_machine: Any) -> Any:
    time_machine.move_to(MOMENT, tick=False)
    return time_machine


class TestHit:
    def test_counts_per_key_within_a_window(self, frozen: Any) -> None:
        assert [ratelimit.hit("k", 2, 60) for _ in range(3)] == [
            ratelimit.Hit(count=1, limit=2, retry_after=43),
            ratelimit.Hit(count=2, limit=2, retry_after=43),
            ratelimit.Hit(count=3, limit=2, retry_after=43),
        ]
        assert ratelimit.hit("other", 2, 60) == ratelimit.Hit(count=1, limit=2, retry_after=43)
        assert ratelimit.hit("k", 2, 3600) == ratelimit.Hit(count=1, limit=2, retry_after=3600 - 17)

    def test_a_new_window_starts_at_zero(self, frozen: Any) -> None:
        ratelimit.hit("k", 1, 60)
        assert ratelimit.hit("k", 1, 60).over_limit  # type: ignore[union-attr]
        frozen.move_to(datetime(2026, 12, 1, 12, 1, 0, tzinfo=UTC), tick=False)
        assert ratelimit.hit("k", 1, 60) == ratelimit.Hit(count=1, limit=1, retry_after=60)

    def test_is_shared_through_redis(self, settings: Any, frozen: Any) -> None:
        settings.CACHES = {"default": shared_redis()}
        assert [ratelimit.hit("k", 5, 60).count for _ in range(3)] == [1, 2, 3]  # type: ignore[union-attr]

    def test_is_none_and_logged_when_the_cache_is_dead(self, settings: Any, caplog: pytest.LogCaptureFixture) -> None:
        settings.CACHES = {"default": dead_cache()}
        assert ratelimit.hit("k", 1, 60) is None
        assert "rate-limit cache unreachable; not counting k" in caplog.text

    def test_asks_a_hung_cache_once(self, settings: Any) -> None:
        with hung_cache() as hung:
            settings.CACHES = {"default": hung.config}
            assert ratelimit.hit("k", 1, 60) is None
            assert hung.connections() == 1  # one socket timeout, no retry


class TestEnforce:
    def test_refuses_past_the_limit_with_the_seconds_left(self, frozen: Any) -> None:
        ratelimit.enforce("k", limit=1, window_seconds=60, message="Slow down.")
        with pytest.raises(ApiError) as refused:
            ratelimit.enforce("k", limit=1, window_seconds=60, message="Slow down.")
        assert (refused.value.status, refused.value.headers) == (429, {"Retry-After": "43"})
        assert refused.value.body()["message"] == "Slow down."

    def test_fails_open(self, settings: Any) -> None:
        settings.CACHES = {"default": dead_cache()}
        for _ in range(3):
            ratelimit.enforce("k", limit=1, window_seconds=60, message="Slow down.")


class TestCacheConfiguration:
    def test_redis_gets_short_socket_timeouts(self) -> None:
        options = cache_from_url("redis://cache.internal:6379/0")["OPTIONS"]
        assert options["SOCKET_CONNECT_TIMEOUT"] <= 0.2
        assert options["SOCKET_TIMEOUT"] <= 0.2

    def test_the_url_may_set_its_own(self) -> None:
        options = cache_from_url("redis://cache.internal:6379/0?socket_timeout=0.5")["OPTIONS"]
        assert (options["SOCKET_TIMEOUT"], options["SOCKET_CONNECT_TIMEOUT"]) == (0.5, 0.1)

    def test_other_backends_are_left_alone(self) -> None:
        assert "OPTIONS" not in cache_from_url("locmemcache://genvoris")


@pytest.mark.django_db
class TestFailedAuthenticationsWhenTheCacheIsDown:
    """The failed-auth limiter fails open: a wrong secret is still a 401, never a 500."""

    def test_dead_cache(self, owner: Persona, track: Track, settings: Any, caplog: pytest.LogCaptureFixture) -> None:
        settings.CACHES = {"default": dead_cache()}
        for _ in range(settings.AUTH_FAILURE_LIMIT + 1):
            assert_error(track({"api_key": owner.secret}, secret="wrong"), 401, "unauthorized")
        assert "rate-limit cache unreachable" in caplog.text

    def test_hung_cache(self, owner: Persona, track: Track, settings: Any) -> None:
        with hung_cache() as hung:
            settings.CACHES = {"default": hung.config}
            assert_error(track({"api_key": owner.secret}, secret="wrong"), 401, "unauthorized")
            assert hung.connections() == 2  # read the count, then count this failure: one timeout each
            assert track({"api_key": owner.secret}).status_code == 200  # success never asks the cache
            assert hung.connections() == 0

    def test_retry_after_is_the_seconds_left_in_the_window(self, owner: Persona, track: Track, frozen: Any) -> None:
        for _ in range(20):
            track({"api_key": owner.secret}, secret="wrong")
        limited = track({"api_key": owner.secret}, secret="wrong")
        assert_error(limited, 429, "rate_limited")
        assert limited["Retry-After"] == str(300 - 17)  # 5-minute windows: 12:00:00–12:05:00
