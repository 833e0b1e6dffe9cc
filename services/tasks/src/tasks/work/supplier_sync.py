"""Products kept in step with the supplier's HTTP API: many calls in flight, within its limit,
within the task's time limit, resumable, and stopped at once when the supplier is unreachable."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from celery import shared_task
from celery.exceptions import Ignore
from requests.adapters import HTTPAdapter
from sqlalchemy import bindparam, func, select, update
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from tasks.extensions import db
from tasks.ledger import Delivery
from tasks.models import Job, JobState, Product
from tasks.ratelimit import RateLimitTimeout, SharedRateLimit
from tasks.scope import fix_scope, reset_scope
from tasks.settings import Settings, current_settings


class SupplierError(Exception):
    """The supplier did not give a product's data, even after retrying."""


class SupplierUnreachable(SupplierError):
    """No connection to the supplier, even after retrying."""


class SyncStopped(Exception):
    """The sync stopped before its end: the supplier is unreachable, or time ran out.
    What was synced is saved; a retry of the job resumes after it."""


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


class CircuitBreaker:
    """Opens after `threshold` calls in a row could not connect; any other outcome resets the
    count. Once open it stays open: the sync stops. (pybreaker holds a lock for the whole
    call, which would serialise the calls this sync makes in parallel.)"""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self._failures >= self.threshold

    def record(self, unreachable: bool) -> None:
        with self._lock:
            if not self.open:
                self._failures = self._failures + 1 if unreachable else 0


@dataclass(frozen=True)
class NotTried:
    """A product whose call was not made: the sync stops before it, to resume there."""

    reason: str


@dataclass
class Tally:
    updated: int = 0
    unknown: int = 0
    failed: int = 0
    failed_skus: tuple[str, ...] = ()

    @classmethod
    def from_result(cls, result: dict[str, Any] | None) -> "Tally":
        result = result or {}
        return cls(
            result.get("updated", 0),
            result.get("unknown", 0),
            result.get("failed", 0),
            tuple(result.get("failed_skus", ())),
        )

    @property
    def done(self) -> int:
        return self.updated + self.unknown + self.failed

    def add(self, results: list[Offer | SupplierError | None]) -> None:
        errors = [str(result) for result in results if isinstance(result, SupplierError)]
        self.updated += sum(isinstance(result, Offer) for result in results)
        self.unknown += sum(result is None for result in results)
        self.failed += len(errors)
        self.failed_skus = (*self.failed_skus, *errors)[:5]

    def as_result(self) -> dict[str, int]:
        return {"updated": self.updated, "unknown": self.unknown, "failed": self.failed}

    def as_checkpoint(self) -> dict[str, Any]:
        return {**self.as_result(), "failed_skus": list(self.failed_skus)}


def _save_batch(delivery: Delivery, offers: list[Offer], last_id: int, tally: Tally) -> None:
    """Save the offers and move the checkpoint in one transaction; stop this delivery when
    the job is no longer its own (cancelled, or taken over by a later delivery)."""
    moved = db.session.execute(
        update(Job)
        .where(
            Job.id == delivery.job_id,
            Job.deliveries == delivery.number,
            Job.state == JobState.RUNNING,
        )
        .values(
            checkpoint=last_id,
            progress_done=tally.done,
            result=tally.as_checkpoint(),
            updated_at=func.now(),
        )
    ).rowcount
    if not moved:
        db.session.rollback()
        raise Ignore()
    if offers:
        products = Product.__table__
        db.session.execute(
            update(products)
            .where(products.c.sku == bindparam("b_sku"))
            .values(price=bindparam("b_price"), stock=bindparam("b_stock"), updated_at=func.now()),
            [{"b_sku": o.sku, "b_price": o.price, "b_stock": o.stock} for o in offers],
        )
    db.session.commit()


def _next_batch(
    job_id: uuid.UUID, product_ids: list[int] | None, size: int
) -> list[tuple[int, str]]:
    job = db.session.get(Job, job_id)
    query = (
        select(Product.id, Product.sku)
        .where(Product.id > job.checkpoint, Product.id <= job.checkpoint_end)
        .order_by(Product.id)
        .limit(size)
    )
    if product_ids is not None:
        query = query.where(Product.id.in_(product_ids))
    batch = [(row.id, row.sku) for row in db.session.execute(query)]
    db.session.commit()
    return batch


def sync_products(
    delivery: Delivery, product_ids: list[int] | None, deadline: float
) -> dict[str, int]:
    """Fetch every product's offer, `concurrency` calls at a time, and save them in batches,
    each with the checkpoint. No call starts after `deadline` (monotonic clock), and after
    SUPPLIER_BREAKER_THRESHOLD connection failures in a row no call starts at all.

    Setting a product to the supplier's values twice changes nothing, so a retried or
    redelivered sync is harmless, and it resumes after the last batch saved.
    """
    settings = current_settings()
    fresh = fix_scope(
        delivery.job_id, Product.id.in_(product_ids) if product_ids is not None else None
    )
    job = db.session.get(Job, delivery.job_id)
    tally, total = Tally() if fresh else Tally.from_result(job.result), job.progress_total
    db.session.commit()
    limit = SharedRateLimit(
        settings.broker_url, settings.supplier_rate_limit, "supplier", settings.redis_timeout
    )
    breaker = CircuitBreaker(settings.supplier_breaker_threshold)
    unreachable = NotTried(
        f"the supplier is unreachable: {settings.supplier_breaker_threshold} calls in a row "
        f"could not connect to {settings.supplier_api_url}"
    )

    out_of_time = NotTried("stopped at its time limit")

    def fetch(sku: str) -> Offer | SupplierError | NotTried | None:
        if time.monotonic() >= deadline:
            return out_of_time
        if breaker.open:
            return unreachable
        try:
            offer = fetch_offer(session, settings, limit, sku, deadline)
        except RateLimitTimeout:
            return out_of_time
        except SupplierError as error:
            breaker.record(isinstance(error, SupplierUnreachable))
            return unreachable if breaker.open else error
        breaker.record(False)
        return offer

    with (
        supplier_session(settings, deadline) as session,
        ThreadPoolExecutor(settings.supplier_concurrency) as pool,
    ):
        while batch := _next_batch(delivery.job_id, product_ids, settings.supplier_batch_size):
            results = list(pool.map(fetch, [sku for _, sku in batch]))
            # The checkpoint moves past the products tried before the first one that was not
            # (or that could not connect, once the breaker is open: those are tried again).
            stop_at = (NotTried, SupplierUnreachable) if breaker.open else NotTried
            cut = next((i for i, r in enumerate(results) if isinstance(r, stop_at)), len(results))
            tried: list[Offer | SupplierError | None] = results[:cut]  # type: ignore[assignment]
            tally.add(tried)
            if cut:
                offers = [result for result in tried if isinstance(result, Offer)]
                _save_batch(delivery, offers, batch[cut - 1][0], tally)
            if cut < len(results):
                reason = unreachable if breaker.open else results[cut]
                raise SyncStopped(
                    f"{reason.reason} after {tally.done} of {total} products; "  # type: ignore[union-attr]
                    "retry the job to resume"
                )
    if tally.failed:
        # Those products are behind the checkpoint: a retry goes over them all again.
        reset_scope(delivery.job_id)
        more = " …" if tally.failed > len(tally.failed_skus) else ""
        raise SupplierError(
            f"{tally.failed} of {total} products could not be synced: "
            f"{', '.join(tally.failed_skus)}{more}"
        )
    return tally.as_result()


@shared_task(name="tasks.sync_products", bind=True)
def sync_products_task(self: Any, product_ids: list[int] | None = None) -> dict[str, Any]:
    settings = current_settings()
    # Calls in flight at the deadline end within their timeouts, before the soft time limit.
    deadline = self.soft_deadline - (
        settings.supplier_connect_timeout + settings.supplier_read_timeout
    )
    return sync_products(self.delivery, product_ids, deadline)
