"""Readiness of the servers every process depends on, answered within a deadline."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

import redis
from sqlalchemy import Engine, text

CHECK_TIMEOUT = 0.5
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readiness")


def postgres_check(engine: Engine) -> Callable[[], None]:
    def check() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return check


def redis_check(url: str) -> Callable[[], None]:
    def check() -> None:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
        )
        with client:
            client.ping()

    return check


def run_checks(checks: dict[str, Callable[[], None]], deadline: float) -> dict[str, str]:
    """Run the checks at once; each is "ok", its error, or "timed out" past the deadline."""
    futures = {name: _pool.submit(check) for name, check in checks.items()}
    wait(futures.values(), timeout=deadline)
    results = {}
    for name, future in futures.items():
        if not future.done():
            future.cancel()
            results[name] = f"timed out after {deadline:g}s"
        elif (error := future.exception()) is not None:
            results[name] = f"{type(error).__name__}: {error}".strip()
        else:
            results[name] = "ok"
    return results
