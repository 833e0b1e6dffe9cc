"""A rate limit that holds for the whole fleet, as the other side sees it.

Every worker books its calls in the same Redis, one slot each, evenly spaced: "20/second" is
a call every 50 ms. A window that lets 20 calls go at once would, after any delay on the
way (threads, the network, the other side's accept queue), let the next window's 20 arrive
right behind them: twice the limit in one second at the supplier. Evenly spaced calls stay
within the limit there as long as the delay varies by less than one interval. `limits`
(which the web side uses) counts windows only, so the spacing is this short script, the
generic cell rate algorithm with no burst, on Redis's clock so that workers on machines
whose clocks differ still agree.
"""

import time

import redis
from limits import RateLimitItem, parse

# KEYS[1]: the next free slot, in microseconds of Redis's clock.
# ARGV[1]: the interval between calls, ARGV[2]: the longest wait the caller accepts (µs).
# Returns the wait for the slot booked, or -1 (nothing booked) if it would be longer.
_BOOK_SLOT = """
redis.replicate_commands()
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now_us)
local wait = slot - now_us
if wait > tonumber(ARGV[2]) then
  return -1
end
local following = slot + tonumber(ARGV[1])
local expiry_ms = math.ceil((following - now_us) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', following), 'PX', expiry_ms)
return wait
"""


class RateLimitTimeout(TimeoutError):
    pass


class SharedRateLimit:
    def __init__(self, redis_url: str, limit: str, name: str, timeout: float | None) -> None:
        item: RateLimitItem = parse(limit)
        self.interval_us = item.get_expiry() * 1_000_000 // item.amount
        self.name = name
        self.key = f"ratelimit/{name}/next-slot"
        # A hung Redis fails a call after `timeout` seconds, instead of holding it for ever.
        timeouts = {"socket_timeout": timeout, "socket_connect_timeout": timeout} if timeout else {}
        self.book_slot = redis.Redis.from_url(redis_url, **timeouts).register_script(_BOOK_SLOT)

    def acquire(self, timeout: float = 60.0) -> None:
        """Wait for this call's slot; raise RateLimitTimeout (booking none) if it is more
        than `timeout` seconds away."""
        wait_us = self.book_slot(keys=[self.key], args=[self.interval_us, int(timeout * 1e6)])
        if wait_us < 0:
            raise RateLimitTimeout(f"no {self.name} call allowed within {timeout:g}s")
        time.sleep(wait_us / 1e6)
