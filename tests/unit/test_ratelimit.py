"""The shared rate limit's arithmetic; its booking runs in Redis (tests/integration)."""

import pytest

from tasks.ratelimit import RateLimitTimeout, SharedRateLimit

pytestmark = pytest.mark.unit

NOWHERE = "redis://127.0.0.1:9/0"


@pytest.mark.parametrize(
    ("rate", "interval_us"),
    [
        ("20/second", 50_000),
        ("3/second", 333_333),
        ("20 per 2 minutes", 6_000_000),
    ],
)
def test_calls_are_spaced_evenly_at_the_rates_interval(rate, interval_us):
    assert SharedRateLimit(NOWHERE, rate, "supplier", 1.0).interval_us == interval_us


def test_each_limit_has_its_own_key_and_redis_client_bounded_by_the_timeout():
    limit = SharedRateLimit(NOWHERE, "20/second", "supplier", 2.5)
    assert limit.key == "ratelimit/supplier/next-slot"
    pool = limit.book_slot.registered_client.connection_pool
    assert pool.connection_kwargs["socket_timeout"] == 2.5
    assert pool.connection_kwargs["socket_connect_timeout"] == 2.5


class Booked:
    """Stands in for the slot-booking script: answers the wait it is given."""

    def __init__(self, wait_us: int) -> None:
        self.wait_us, self.calls = wait_us, []

    def __call__(self, keys: list[str], args: list[int]) -> int:
        self.calls.append((keys, args))
        return self.wait_us


def test_a_slot_further_than_the_caller_waits_is_a_timeout_naming_the_limit():
    limit = SharedRateLimit(NOWHERE, "20/second", "supplier", 1.0)
    limit.book_slot = Booked(-1)
    with pytest.raises(RateLimitTimeout, match=r"no supplier call allowed within 2\.5s"):
        limit.acquire(timeout=2.5)
    assert limit.book_slot.calls == [(["ratelimit/supplier/next-slot"], [50_000, 2_500_000])]
