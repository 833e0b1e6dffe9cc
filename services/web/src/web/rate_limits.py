"""Rate limits on the endpoints that start work: per API key and per client address, counted
by Flask-Limiter in the same Redis as the jobs (a moving window, shared by every web
process). Past a limit: 429 with Retry-After."""

import time
from collections.abc import Callable
from typing import Any, NoReturn

from flask import Flask, request
from flask_limiter import Limiter, RequestLimit
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasks.settings import current_settings
from web.auth import current_key
from web.error_handler import ApiError


def _too_many(limit: RequestLimit) -> NoReturn:
    # When the window lets a call in again (one more Redis round trip, on a 429 only).
    wait = max(int(limit.reset_at - time.time()), 1)
    raise ApiError(
        f"too many jobs started: at most {limit.limit}; slow down",
        status=429,
        code="too_many_requests",
        retry_after=wait,
    )


limiter = Limiter(key_func=lambda: request.remote_addr or "unknown", on_breach=_too_many)


def _per_key() -> str:
    key = current_key()
    return key.prefix if key is not None else "anonymous"


# Every endpoint that starts a job shares both buckets.
per_key = limiter.shared_limit(
    lambda: current_settings().jobs_rate_limit_per_key, "jobs-per-key", key_func=_per_key
)
per_address = limiter.shared_limit(
    lambda: current_settings().jobs_rate_limit_per_address, "jobs-per-address"
)


def limited(view: Callable[..., Any]) -> Callable[..., Any]:
    """Count a call of `view` in both buckets. Inside web.auth.guard: the key it counts by
    is the one the guard checked (web.job_views.starts_job puts them in that order)."""
    return per_address(per_key(view))


def register(app: Flask) -> None:
    settings = current_settings(app)
    timeout = settings.redis_timeout or None
    app.config.update(
        RATELIMIT_STORAGE_URI=settings.broker_url,
        # A hung Redis costs a request at most one REDIS_TIMEOUT here, then a 503: no retry.
        RATELIMIT_STORAGE_OPTIONS={
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        },
        RATELIMIT_STRATEGY="moving-window",
        RATELIMIT_KEY_PREFIX="api",
        # Reading the window for X-RateLimit-* headers would cost every response a Redis
        # round trip; a 429 gets its Retry-After from _too_many.
        RATELIMIT_HEADERS_ENABLED=False,
        RATELIMIT_SWALLOW_ERRORS=False,
    )
    limiter.init_app(app)
