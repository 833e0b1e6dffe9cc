"""The supplier's HTTP API: one product's offer, retried with backoff on errors, timeouts,
5xx and 429 (after Retry-After), and never waiting past the caller's deadline."""

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from tasks.ratelimit import SharedRateLimit
from tasks.settings import Settings


class SupplierError(Exception):
    """The supplier did not give a product's data, even after retrying."""


class SupplierUnreachable(SupplierError):
    """No connection to the supplier, even after retrying."""


class DeadlineRetry(Retry):
    """urllib3's Retry that gives up rather than wait (backoff, Retry-After) past a deadline:
    as if its retries had run out, so the caller sees the last error or response."""

    def __init__(self, *args: Any, deadline: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kwargs: Any) -> "DeadlineRetry":
        retry = super().new(**kwargs)
        retry.deadline = self.deadline
        return retry

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> "DeadlineRetry":
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = (
            response is not None and retry.get_retry_after(response)
        ) or retry.get_backoff_time()
        if retry.deadline is not None and time.monotonic() + wait >= retry.deadline:
            reason = error or ResponseError(f"no time left to retry HTTP {response.status}")
            raise MaxRetryError(_pool, url, reason) from reason
        return retry


@dataclass(frozen=True)
class Offer:
    sku: str
    price: Decimal
    stock: int


def supplier_session(settings: Settings, deadline: float | None) -> requests.Session:
    """Retries with backoff on connection errors, timeouts, 5xx and 429 (after Retry-After)."""
    retry = DeadlineRetry(
        total=settings.supplier_retries,
        connect=settings.supplier_retries,
        read=settings.supplier_retries,
        status=settings.supplier_retries,
        backoff_factor=settings.supplier_backoff,
        backoff_jitter=settings.supplier_backoff,
        backoff_max=30,
        status_forcelist=(429, 500, 502, 503, 504),
        respect_retry_after_header=True,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
        deadline=deadline,
    )
    session = requests.Session()
    adapter = HTTPAdapter(
        max_retries=retry,
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
    """The supplier's price and stock for `sku`; None if the supplier does not sell it."""
    limit.acquire(timeout=max(deadline - time.monotonic(), 0))
    url = f"{settings.supplier_api_url.rstrip('/')}/products/{sku}"
    try:
        response = session.get(
            url, timeout=(settings.supplier_connect_timeout, settings.supplier_read_timeout)
        )
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
