from decimal import Decimal

import pytest
from sqlalchemy import select

from local_servers import wait_until
from tasks.extensions import db
from tasks.models import Product
from tasks.settings import current_settings
from tests import processes
from tests.auth import keyed_client
from tests.integration.helpers import app_on_redis_db, prices, raised_by_percent, seed
from tests.waiting import wait_for_job

pytestmark = pytest.mark.integration


def test_only_matching_rows_change_each_by_the_exact_amount(app, client, worker):
    before = seed(app, 3000, "KIT-") | seed(app, 2000, "TOY-")
    with app.app_context():
        skus = dict(db.session.execute(select(Product.id, Product.sku)).all())
    response = client.post(
        "/products/price-changes",
        json={"percent": "-12.5", "sku_prefix": "KIT-", "min_price": "10"},
    )
    assert response.status_code == 202
    done = wait_for_job(client, response.headers["Location"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done

    after = prices(app)
    expected = {
        product_id: (
            raised_by_percent(price, "-12.5")
            if skus[product_id].startswith("KIT-") and price >= 10
            else price
        )
        for product_id, price in before.items()
    }
    assert after == expected
    changed = sum(1 for product_id in before if before[product_id] != after[product_id])
    assert done["result"]["updated"] == done["progress"]["total"] >= changed > 0


def test_an_amount_never_takes_a_price_below_zero(app, client, worker):
    before = seed(app, 500, "LOW-")
    response = client.post("/products/price-changes", json={"amount": "-50"})
    done = wait_for_job(client, response.headers["Location"], {"succeeded", "failed"})
    assert done["state"] == "succeeded"
    assert prices(app) == {pid: max(p - 50, Decimal("0.00")) for pid, p in before.items()}


def test_progress_moves_from_0_to_100_percent_on_get_jobs(app, client, worker):
    seed(app, 60_000, "BIG-")  # the worker changes 500 rows a chunk: 120 steps
    location = client.post("/products/price-changes", json={"percent": "3"}).headers["Location"]
    seen: list[float] = []

    def finished() -> bool:
        job = client.get(location).get_json()
        if job["progress"] is not None:
            seen.append(job["progress"]["percent"])
        return job["state"] in {"succeeded", "failed"}

    wait_until(finished, 60, "the price change to finish", interval=0.01)
    assert seen == sorted(seen), "progress went backwards"
    assert seen[0] < 50
    assert any(0 < percent < 100 for percent in seen)
    assert seen[-1] == 100.0
    assert client.get(location).get_json()["state"] == "succeeded"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"percent": "5", "amount": "1"},
        {"percent": "-100"},
        {"percent": "abc"},
        {"amount": "1", "min_price": "9", "max_price": "1"},
        {"percent": "5", "colour": "red"},
    ],
)
def test_invalid_price_changes_are_a_400_and_start_nothing(client, payload):
    response = client.post("/products/price-changes", json=payload)
    assert response.status_code == 400
    assert client.get("/jobs").get_json()["total"] == 0


def test_the_same_idempotency_key_returns_the_same_job(client):
    headers = {"Idempotency-Key": "reprice-2026-11-24"}
    first = client.post("/products/price-changes", json={"percent": "1"}, headers=headers)
    again = client.post("/products/price-changes", json={"percent": "1"}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.get("/jobs").get_json()["total"] == 1
    other = client.post("/products/price-changes", json={"percent": "2"}, headers=headers)
    assert other.status_code == 409
    assert client.get("/jobs").get_json()["total"] == 1


def test_a_worker_killed_mid_update_changes_every_row_exactly_once(
    migrated, app, tmp_path, servers
):
    """SIGKILL the worker in the middle; the message comes back to another worker after the
    visibility timeout, which resumes from the committed checkpoint."""
    busy = app_on_redis_db(migrated, 1)
    before = seed(app, 40_000, "KILL-")
    settings = {"BULK_CHUNK_SIZE": "200", "CELERY_TASK_TIME_LIMIT": "4"}  # visibility: 8 s
    first, _ = processes.start_worker(
        servers.database_url, current_settings(busy).broker_url, tmp_path, "first", **settings
    )
    client = keyed_client(busy)
    location = client.post("/products/price-changes", json={"percent": "10"}).headers["Location"]

    def midway() -> bool:
        progress = client.get(location).get_json()["progress"]
        return bool(progress) and 0 < progress["done"] < progress["total"] // 2

    wait_until(midway, 30, "the update to be under way", interval=0.005)
    processes.kill(first)
    assert client.get(location).get_json()["state"] == "running"

    second, _ = processes.start_worker(
        servers.database_url, current_settings(busy).broker_url, tmp_path, "second", **settings
    )
    try:
        done = wait_for_job(client, location, {"succeeded", "failed", "dead"}, timeout=60)
    finally:
        processes.stop(second)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    assert prices(app) == {pid: raised_by_percent(p, "10") for pid, p in before.items()}
