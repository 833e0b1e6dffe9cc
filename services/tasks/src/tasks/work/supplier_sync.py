"""Products kept in step with the supplier's HTTP API: many calls in flight, within its limit,
within the task's time limit, resumable, and stopped at once when the supplier is unreachable."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, update

from tasks.errors import DEPENDENCY_ERRORS
from tasks.extensions import db
from tasks.job_lifecycle import JobContext, job_task
from tasks.models import Product
from tasks.ratelimit import RateLimitTimeout, SharedRateLimit
from tasks.settings import current_settings
from tasks.work.catalogue import Position, fix_scope
from tasks.work.supplier_api import (
    Offer,
    SupplierError,
    SupplierUnreachable,
    fetch_offer,
    supplier_session,
)


class SyncStopped(Exception):
    """The sync stopped before its end: the supplier is unreachable, or time ran out.
    What was synced is saved; a retry of the job resumes after it."""


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
    def from_checkpoint(cls, kept: dict[str, Any]) -> "Tally":
        return cls(
            kept.get("updated", 0),
            kept.get("unknown", 0),
            kept.get("failed", 0),
            tuple(kept.get("failed_skus", ())),
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


class SyncPosition(Position):
    total: int
    tally: dict[str, Any]


def _save_batch(
    job: JobContext, offers: list[Offer], position: SyncPosition, last_id: int, tally: Tally
) -> SyncPosition:
    """Save the offers and move the checkpoint in one transaction (stopping this delivery
    when the job is no longer its own: cancelled, or taken over by a later delivery)."""
    if offers:
        products = Product.__table__
        db.session.execute(
            update(products)
            .where(products.c.sku == bindparam("b_sku"))
            .values(price=bindparam("b_price"), stock=bindparam("b_stock"), updated_at=func.now()),
            [{"b_sku": o.sku, "b_price": o.price, "b_stock": o.stock} for o in offers],
        )
    moved: SyncPosition = {**position, "after": last_id, "tally": tally.as_checkpoint()}
    job.commit(checkpoint=moved, done=tally.done)
    return moved


def _next_batch(
    position: SyncPosition, product_ids: list[int] | None, size: int
) -> list[tuple[int, str]]:
    query = (
        select(Product.id, Product.sku)
        .where(Product.id > position["after"], Product.id <= position["end"])
        .order_by(Product.id)
        .limit(size)
    )
    if product_ids is not None:
        query = query.where(Product.id.in_(product_ids))
    batch = [(row.id, row.sku) for row in db.session.execute(query)]
    db.session.commit()
    return batch


def sync_products(
    job: JobContext, product_ids: list[int] | None, deadline: float
) -> dict[str, int]:
    """Fetch every product's offer, `concurrency` calls at a time, and save them in batches,
    each with the checkpoint. No call starts after `deadline` (monotonic clock), and after
    SUPPLIER_BREAKER_THRESHOLD connection failures in a row no call starts at all.

    Setting a product to the supplier's values twice changes nothing, so a retried or
    redelivered sync is harmless, and it resumes after the last batch saved.
    """
    settings = current_settings()
    if job.checkpoint is None:
        scope, total = fix_scope(Product.id.in_(product_ids) if product_ids is not None else None)
        fresh: SyncPosition = {**scope, "total": total, "tally": Tally().as_checkpoint()}
        job.commit(checkpoint=fresh, done=0, total=total)
    position: SyncPosition = job.checkpoint
    tally, total = Tally.from_checkpoint(position["tally"]), position["total"]
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
        supplier_session(settings) as session,
        ThreadPoolExecutor(settings.supplier_concurrency) as pool,
    ):
        while batch := _next_batch(position, product_ids, settings.supplier_batch_size):
            results = list(pool.map(fetch, [sku for _, sku in batch]))
            # The checkpoint moves past the products tried before the first one that was not
            # (or that could not connect, once the breaker is open: those are tried again).
            stop_at = (NotTried, SupplierUnreachable) if breaker.open else NotTried
            cut = next((i for i, r in enumerate(results) if isinstance(r, stop_at)), len(results))
            tried: list[Offer | SupplierError | None] = results[:cut]  # type: ignore[assignment]
            tally.add(tried)
            if cut:
                offers = [result for result in tried if isinstance(result, Offer)]
                position = _save_batch(job, offers, position, batch[cut - 1][0], tally)
            if cut < len(results):
                reason = unreachable if breaker.open else results[cut]
                raise SyncStopped(
                    f"{reason.reason} after {tally.done} of {total} products; "  # type: ignore[union-attr]
                    "retry the job to resume"
                )
    if tally.failed:
        # Those products are behind the checkpoint: a retry goes over them all again.
        job.commit(checkpoint=None)
        more = " …" if tally.failed > len(tally.failed_skus) else ""
        raise SupplierError(
            f"{tally.failed} of {total} products could not be synced: "
            f"{', '.join(tally.failed_skus)}{more}"
        )
    return tally.as_result()


# A stop to be resumed is expected: Celery logs it at INFO, not as an ERROR.
@job_task(name="tasks.sync_products", autoretry_for=DEPENDENCY_ERRORS, throws=(SyncStopped,))
def sync_products_task(job: JobContext, product_ids: list[int] | None = None) -> dict[str, int]:
    """Bring products' price and stock in line with the supplier's API (all when no ids)."""
    settings = current_settings()
    # Calls in flight at the deadline end within their timeouts, before the soft time limit.
    deadline = job.deadline - (settings.supplier_connect_timeout + settings.supplier_read_timeout)
    return sync_products(job, product_ids, deadline)
