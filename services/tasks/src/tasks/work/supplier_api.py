"""The supplier's HTTP API: one product's offer, retried with backoff on errors, timeouts,
500, 502, 503, 504 and 429 (after Retry-After), never waiting past the caller's deadline,
and each call, a retry included, in a slot of the fleet-wide rate limit."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from email.utils import mktime_tz, parsedate_tz

import requests
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential_jitter,
)

from tasks.ratelimit import SharedRateLimit
from tasks.settings import Settings

RETRIED_ERRORS = (requests.ConnectionError, requests.Timeout)
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_MAX = 30.0


class SupplierError(Exception):
    """The supplier did not give a product's data, even after retrying."""


class SupplierUnreachable(SupplierError):
    """No connection to the supplier, even after retrying."""


@dataclass(frozen=True)
class Offer:
    sku: str
    price: Decimal
    stock: int


def retry_after(response: requests.Response, now: Callable[[], float] = time.time) -> float | None:
    """The seconds a 429 or 503 asks the client to wait (Retry-After: seconds, or an HTTP date
    on `now`'s clock); None when it does not say."""
    if response.status_code not in {429, 503}:
        return None
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    date = parsedate_tz(value)
    return None if date is None else max(mktime_tz(date) - now(), 0.0)


def retry_wait(backoff: float) -> Callable[[RetryCallState], float]:
    """The wait before a retry: the last answer's Retry-After if it gave one, else `backoff`
    seconds, doubling with each retry, plus up to `backoff` of jitter, at most BACKOFF_MAX."""
    exponential = wait_exponential_jitter(multiplier=backoff, jitter=backoff, max=BACKOFF_MAX)

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        asked = None if outcome is None or outcome.failed else retry_after(outcome.result())
        return exponential(state) if asked is None else asked

    return wait


def retry_policy(
    retries: int,
    backoff: float,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """Calls again, up to `retries` times, while a call raises one of RETRIED_ERRORS or is
    answered with one of RETRIED_STATUSES, after `retry_wait`. When that wait would end at or
    after `deadline` (on `clock`) it gives up at once, as when the retries run out: the last
    answer is returned, or the last error raised."""
    return Retrying(
        retry=retry_if_exception_type(RETRIED_ERRORS)
        | retry_if_result(lambda response: response.status_code in RETRIED_STATUSES),
        wait=retry_wait(backoff),
        stop=stop_after_attempt(retries + 1)
        | (lambda state: clock() + state.upcoming_sleep >= deadline),
        sleep=sleep,
        retry_error_callback=_last_outcome,
    )


def _last_outcome(state: RetryCallState) -> requests.Response:
    assert state.outcome is not None
    return state.outcome.result()


def supplier_session(settings: Settings) -> requests.Session:
    """Pooled connections to the supplier, SUPPLIER_CONCURRENCY of them. The session retries
    nothing itself: fetch_offer does, booking a rate-limit slot for each call."""
    session = requests.Session()
    adapter = HTTPAdapter(
        max_retries=0,
        pool_connections=settings.supplier_concurrency,
        pool_maxsize=settings.supplier_concurrency,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch_offer(
    session: requests.Session,
    settings: Settings,
    limit: SharedRateLimit,
    sku: str,
    deadline: float,
) -> Offer | None:
    """The supplier's price and stock for `sku`; None if the supplier does not sell it.

    Every call, a retry included, first books a slot of `limit`; when none is free before
    `deadline`, RateLimitTimeout is raised and that call is not made."""
    url = f"{settings.supplier_api_url.rstrip('/')}/products/{sku}"
    timeout = (settings.supplier_connect_timeout, settings.supplier_read_timeout)

    def call() -> requests.Response:
        limit.acquire(timeout=max(deadline - time.monotonic(), 0))
        return session.get(url, timeout=timeout)

    retrying = retry_policy(settings.supplier_retries, settings.supplier_backoff, deadline)
    try:
        response: requests.Response = retrying(call)
    except requests.ConnectionError as error:
        raise SupplierUnreachable(f"{sku}: {type(error).__name__}") from error
    except requests.RequestException as error:
        raise SupplierError(f"{sku}: {type(error).__name__}") from error
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise SupplierError(f"{sku}: HTTP {response.status_code}")
    try:
        body = response.json()
        return Offer(sku, Decimal(str(body["price"])), int(body["stock"]))
    except (ValueError, KeyError, TypeError, InvalidOperation) as error:
        raise SupplierError(f"{sku}: an answer that is not an offer") from error
