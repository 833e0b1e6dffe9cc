"""Shared steps of the integration tests."""

import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tasks.extensions import db
from tasks.models import Product
from tasks.seeding import seed_products
from tasks.settings import Settings
from tests import processes
from tests.auth import keyed_client
from tests.settings import settings_for
from web import create_app

# A well-formed job id no job has; fixed, so that every test process collects the same tests.
NEVER_ISSUED_JOB_ID = "3f2b8c1e-9d4a-4e6b-8f7c-2a1d5e9b0c36"


def redis_db(settings: Settings, number: int) -> str:
    """The URL of database `number` of the settings' Redis."""
    return settings.broker_url.rsplit("/", 1)[0] + f"/{number}"


def app_on_redis(settings: Settings, redis_url: str, **environ: str) -> Flask:
    """The app, on the settings' database and the Redis at `redis_url`."""
    return create_app(settings_for(settings.database_url, redis_url, **environ))


def app_on_redis_db(settings: Settings, number: int, **environ: str) -> Flask:
    """The app, publishing to another Redis database: only workers started on it consume."""
    return app_on_redis(settings, redis_db(settings, number), **environ)


def client_and_worker(
    settings: Settings, database_url: str, redis_url: str, scratch: Path, **environ: str
) -> tuple[FlaskClient, subprocess.Popen[bytes]]:
    """An API client and a worker process, both on the Redis at `redis_url`."""
    worker, _ = processes.start_worker(database_url, redis_url, scratch, "worker", **environ)
    return keyed_client(app_on_redis(settings, redis_url, **environ)), worker


def seed(app: Flask, count: int, prefix: str) -> dict[int, Decimal]:
    """Insert `count` products; returns their prices by id."""
    with app.app_context():
        seed_products(count, prefix, seed=count)
        return prices(app)


def catalogue(app: Flask, supplier: Any, count: int, prefix: str, unknown: int = 0) -> list[str]:
    """Seed `count` products; the supplier offers all but the last `unknown` of them."""
    seed(app, count, prefix)
    with app.app_context():
        skus = db.session.scalars(
            select(Product.sku).where(Product.sku.startswith(prefix)).order_by(Product.id)
        ).all()
    for n, sku in enumerate(skus[: count - unknown]):
        supplier.offers[sku] = {"price": f"{10 + n}.50", "stock": n}
    return list(skus)


def prices(app: Flask) -> dict[int, Decimal]:
    with app.app_context():
        return dict(db.session.execute(select(Product.id, Product.price)).all())


def raised_by_percent(price: Decimal, percent: str) -> Decimal:
    changed = (price * (1 + Decimal(percent) / 100)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return max(changed, Decimal("0.00"))
