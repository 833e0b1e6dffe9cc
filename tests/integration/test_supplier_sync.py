from decimal import Decimal

import pytest
from sqlalchemy import select

from tasks.extensions import db
from tasks.models import Product
from tests.integration.helpers import seed
from tests.waiting import wait_for_job

pytestmark = pytest.mark.integration

FINAL = {"succeeded", "failed", "dead"}


def catalogue(app, supplier, count: int, prefix: str, unknown: int = 0) -> list[str]:
    """Seed `count` products; the supplier offers all but the last `unknown` of them."""
    seed(app, count, prefix)
    with app.app_context():
        skus = db.session.scalars(
            select(Product.sku).where(Product.sku.startswith(prefix)).order_by(Product.id)
        ).all()
    for n, sku in enumerate(skus[: count - unknown]):
        supplier.offers[sku] = {"price": f"{10 + n}.50", "stock": n}
    return list(skus)


def stock_and_prices(app) -> dict[str, tuple[Decimal, int]]:
    with app.app_context():
        rows = db.session.execute(select(Product.sku, Product.price, Product.stock)).all()
    return {sku: (price, stock) for sku, price, stock in rows}


def sync_all(client) -> dict:
    response = client.post("/products/sync")
    assert response.status_code == 202
    return wait_for_job(client, response.headers["Location"], FINAL, timeout=60)


def test_sync_brings_every_product_in_line_with_the_supplier(app, client, supplier, worker):
    skus = catalogue(app, supplier, 30, "SUP-", unknown=2)
    done = sync_all(client)
    assert done["state"] == "succeeded", done
    assert done["result"] == {"updated": 28, "unknown": 2, "failed": 0}
    assert done["progress"]["done"] == done["progress"]["total"] == 30
    saved = stock_and_prices(app)
    for sku in skus[:28]:
        offer = supplier.offers[sku]
        assert saved[sku] == (Decimal(offer["price"]), offer["stock"])


def test_500s_429s_and_timeouts_end_in_success_once_they_pass(app, client, supplier, worker):
    skus = catalogue(app, supplier, 6, "FLK-")
    supplier.script[skus[0]] = ["500", "503"]
    supplier.script[skus[1]] = ["429:1"]
    supplier.script[skus[2]] = ["slow:1.5"]  # past the worker's 1 s read timeout
    done = sync_all(client)
    assert done["state"] == "succeeded", done
    assert done["result"]["updated"] == 6
    assert len(supplier.requests_for(skus[0])) == 3
    assert len(supplier.requests_for(skus[2])) == 2
    first, second = supplier.requests_for(skus[1])
    assert second - first >= 0.95, "Retry-After was not honoured"
    assert stock_and_prices(app)[skus[0]] == (Decimal(supplier.offers[skus[0]]["price"]), 0)


def test_errors_that_do_not_pass_end_in_a_clear_failed_job(app, client, supplier, worker):
    skus = catalogue(app, supplier, 5, "BAD-")
    supplier.always[skus[3]] = "503"
    done = sync_all(client)
    assert done["state"] == "failed"
    assert f"1 of 5 products could not be synced: {skus[3]}: HTTP 503" in done["error"]
    assert len(supplier.requests_for(skus[3])) == 4  # the call and SUPPLIER_RETRIES=3 retries
    saved = stock_and_prices(app)
    assert saved[skus[0]] == (Decimal(supplier.offers[skus[0]]["price"]), 0)


def test_one_product_can_be_synced_alone(app, client, supplier, worker):
    skus = catalogue(app, supplier, 5, "ONE-")
    with app.app_context():
        product_id = db.session.scalar(select(Product.id).where(Product.sku == skus[2]))
    response = client.post(f"/products/{product_id}/sync")
    done = wait_for_job(client, response.headers["Location"], FINAL)
    assert done["result"] == {"updated": 1, "unknown": 0, "failed": 0}
    assert [sku for _, sku in supplier.arrivals] == [skus[2]]
    assert client.post("/products/999999/sync").status_code == 404


def test_many_calls_are_in_flight_at_once(app, client, supplier, worker):
    catalogue(app, supplier, 16, "PAR-")
    supplier.delay = 0.3
    assert sync_all(client)["state"] == "succeeded"
    assert supplier.max_in_flight >= 4


def test_the_rate_limit_holds_across_worker_processes(app, client, supplier, worker):
    """Two syncs at once run in two processes of the worker; together they stay within
    the 20 calls a second that the supplier allows."""
    catalogue(app, supplier, 60, "RAT-")
    locations = [client.post("/products/sync").headers["Location"] for _ in range(2)]
    for location in locations:
        assert wait_for_job(client, location, FINAL, timeout=60)["state"] == "succeeded"
    arrivals = sorted(at for at, _ in supplier.arrivals)
    assert len(arrivals) == 120
    busiest = max(
        sum(1 for later in arrivals[i:] if later - at < 0.95) for i, at in enumerate(arrivals)
    )
    assert busiest <= 20
