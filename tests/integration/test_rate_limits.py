"""Starting work is rate limited per API key and per client address (Flask-Limiter, with
its counters in Redis): past a limit, 429 with Retry-After, in the error shape."""

import pytest
import redis

from tasks.settings import current_settings
from tests.auth import make_key, with_key
from tests.integration.helpers import app_on_redis_db

pytestmark = pytest.mark.integration


@pytest.fixture
def limited(migrated, app):
    limited = app_on_redis_db(
        migrated, 10, JOBS_RATE_LIMIT_PER_KEY="2/minute", JOBS_RATE_LIMIT_PER_ADDRESS="3/minute"
    )
    broker = redis.Redis.from_url(current_settings(limited).broker_url)
    broker.flushdb()
    yield limited
    broker.flushdb()


def start(client) -> int:
    return client.post("/jobs/slow-add", json={"a": 1, "b": 2}).status_code


def assert_too_many(response) -> None:
    assert response.status_code == 429
    error = response.get_json()["error"]
    assert (error["status"], error["code"]) == (429, "too_many_requests")
    assert 0 < int(response.headers["Retry-After"]) <= 60


def test_one_key_may_start_so_many_jobs_then_waits(limited):
    client = with_key(limited.test_client(), make_key(limited))
    assert [start(client), start(client)] == [202, 202]
    assert_too_many(client.post("/products/sync"))  # every job-starting endpoint counts


def test_one_address_may_start_so_many_jobs_whatever_its_keys(limited):
    first = with_key(limited.test_client(), make_key(limited))
    second = with_key(limited.test_client(), make_key(limited))
    assert [start(first), start(first), start(second)] == [202, 202, 202]
    assert_too_many(second.post("/jobs/slow-add", json={"a": 1, "b": 2}))
    elsewhere = with_key(limited.test_client(), make_key(limited))
    response = elsewhere.post(
        "/jobs/slow-add", json={"a": 1, "b": 2}, environ_base={"REMOTE_ADDR": "10.0.0.7"}
    )
    assert response.status_code == 202


def test_reads_and_product_writes_are_not_limited(limited):
    client = with_key(limited.test_client(), make_key(limited))
    for n in range(6):
        assert (
            client.post("/products", json={"sku": f"R-{n}", "name": "R", "price": "1"}).status_code
            == 201
        )
        assert client.get("/jobs").status_code == 200
