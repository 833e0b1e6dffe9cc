"""Products kept in step with the supplier's HTTP API: many calls in flight, within its limit."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests
from celery import shared_task
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import bindparam, func, select, update
from urllib3.util.retry import Retry

from tasks import tracking
from tasks.config import SupplierSettings
from tasks.extensions import db
from tasks.models import Product
from tasks.ratelimit import SharedRateLimit

BATCH_SIZE = 200


class SupplierError(Exception):
    """The supplier did not give a product's data, even after retrying."""


@dataclass(frozen=True)
class Offer:
    sku: str
    price: Decimal
    stock: int


def supplier_session(settings: SupplierSettings) -> requests.Session:
    """Retries with backoff on connection errors, timeouts, 5xx and 429 (after Retry-After)."""
    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        backoff_factor=settings.backoff,
        backoff_jitter=settings.backoff,
        backoff_max=30,
        status_forcelist=(429, 500, 502, 503, 504),
        respect_retry_after_header=True,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(
        max_retries=retry,
        pool_connections=settings.concurrency,
        pool_maxsize=settings.concurrency,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def fetch_offer(
    session: requests.Session, settings: SupplierSettings, limit: SharedRateLimit, sku: str
) -> Offer | None:
    """The supplier's price and stock for `sku`; None if the supplier does not sell it."""
    limit.acquire()
    url = f"{settings.base_url.rstrip('/')}/products/{sku}"
    try:
        response = session.get(url, timeout=(settings.connect_timeout, settings.read_timeout))
    except requests.RequestException as error:
        raise SupplierError(f"{sku}: {type(error).__name__}") from error
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise SupplierError(f"{sku}: HTTP {response.status_code}")
    body = response.json()
    return Offer(sku, Decimal(str(body["price"])), int(body["stock"]))


def _save(offers: list[Offer]) -> None:
    if offers:
        products = Product.__table__
        db.session.execute(
            update(products)
            .where(products.c.sku == bindparam("b_sku"))
            .values(price=bindparam("b_price"), stock=bindparam("b_stock"), updated_at=func.now()),
            [{"b_sku": o.sku, "b_price": o.price, "b_stock": o.stock} for o in offers],
        )
    db.session.commit()


def sync_products(job_id: uuid.UUID, product_ids: list[int] | None) -> dict[str, Any]:
    """Fetch every product's offer, `concurrency` calls at a time, and save them in batches.

    Setting a product to the supplier's values twice changes nothing, so a retried or
    redelivered sync is harmless.
    """
    settings: SupplierSettings = current_app.config["SUPPLIER"]
    limit = SharedRateLimit(
        current_app.config["CELERY"]["broker_url"], settings.rate_limit, "supplier"
    )
    query = select(Product.sku).order_by(Product.id)
    if product_ids is not None:
        query = query.where(Product.id.in_(product_ids))
    skus = db.session.scalars(query).all()
    db.session.commit()
    counts = {"updated": 0, "unknown": 0, "failed": 0}
    errors: list[str] = []
    with supplier_session(settings) as session, ThreadPoolExecutor(settings.concurrency) as pool:

        def fetch(sku: str) -> Offer | SupplierError | None:
            try:
                return fetch_offer(session, settings, limit, sku)
            except SupplierError as error:
                return error

        for start in range(0, len(skus), BATCH_SIZE):
            results = list(pool.map(fetch, skus[start : start + BATCH_SIZE]))
            offers = [r for r in results if isinstance(r, Offer)]
            _save(offers)
            counts["updated"] += len(offers)
            counts["unknown"] += sum(r is None for r in results)
            errors += [str(r) for r in results if isinstance(r, SupplierError)]
            counts["failed"] = len(errors)
            tracking.job_progress(str(job_id), start + len(results), len(skus))
    if errors:
        shown = ", ".join(errors[:5]) + (" …" if len(errors) > 5 else "")
        raise SupplierError(f"{len(errors)} of {len(skus)} products could not be synced: {shown}")
    return counts


@shared_task(name="tasks.sync_products", bind=True)
def sync_products_task(self: Any, product_ids: list[int] | None = None) -> dict[str, Any]:
    return sync_products(uuid.UUID(self.request.id), product_ids)
