"""A rate limit that holds for the whole fleet: every worker counts in the same Redis."""

import time

from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimitTimeout(TimeoutError):
    pass


class SharedRateLimit:
    def __init__(self, redis_url: str, limit: str, name: str, timeout: float | None) -> None:
        self.item: RateLimitItem = parse(limit)
        self.name = name
        # A hung Redis fails a call after `timeout` seconds, instead of holding it for ever.
        timeouts = {"socket_timeout": timeout, "socket_connect_timeout": timeout} if timeout else {}
        storage = RedisStorage(redis_url, key_prefix="ratelimit", **timeouts)
        self.limiter = MovingWindowRateLimiter(storage)

    def acquire(self, timeout: float = 60.0) -> None:
        """Block until a call is allowed; raise RateLimitTimeout after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.limiter.hit(self.item, self.name):
            reset_at = self.limiter.get_window_stats(self.item, self.name).reset_time
            wait = min(max(reset_at - time.time(), 0.01), 1.0)
            if time.monotonic() + wait > deadline:
                raise RateLimitTimeout(f"no {self.name} call allowed within {timeout:g}s")
            time.sleep(wait)
