"""The supplier's rate limit books its calls evenly spaced, in Redis: whichever worker asks,
no two calls get slots closer together than the limit's interval, and a caller that cannot
wait long enough books nothing."""

import uuid
from itertools import pairwise

import pytest
import redis

from tasks.ratelimit import RateLimitTimeout, SharedRateLimit

pytestmark = pytest.mark.integration


def _limits(servers, rate: str, count: int) -> list[SharedRateLimit]:
    """`count` workers' limits (each with a Redis client of its own), sharing one name."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    return [SharedRateLimit(servers.redis_url, rate, name, timeout=1.0) for _ in range(count)]


def test_two_workers_calls_get_slots_an_interval_apart(servers):
    first, second = _limits(servers, "20/second", 2)
    client = redis.Redis.from_url(servers.redis_url)
    slots = []
    for limit in [first, second] * 10:
        # Booked without waiting for it: the slot is the next free one, minus the interval.
        assert limit.book_slot(keys=[limit.key], args=[limit.interval_us, 60_000_000]) >= 0
        slots.append(int(client.get(limit.key)) - limit.interval_us)
    assert first.interval_us == 50_000
    assert min(later - earlier for earlier, later in pairwise(slots)) >= 50_000


def test_a_slot_further_off_than_the_caller_waits_is_not_booked(servers):
    limit, other = _limits(servers, "1/minute", 2)
    limit.acquire(timeout=1.0)  # the first slot is free at once
    client = redis.Redis.from_url(servers.redis_url)
    booked = client.get(limit.key)
    with pytest.raises(RateLimitTimeout, match="within 1s"):
        other.acquire(timeout=1.0)  # the next one is a minute away
    assert client.get(limit.key) == booked
