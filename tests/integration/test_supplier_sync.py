import socketserver
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
import redis
from sqlalchemy import select

from local_servers import wait_until
from tasks.extensions import db
from tasks.models import Product
from tasks.settings import current_settings
from tests import processes
from tests.auth import keyed_client
from tests.integration.helpers import app_on_redis_db, catalogue, seed
from tests.waiting import wait_for_job

pytestmark = pytest.mark.integration

FINAL = {"succeeded", "failed", "dead"}


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
    supplier.script[skus[2]] = ["slow:6"]  # past the worker's 5 s read timeout
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

    del supplier.always[skus[3]]  # the supplier is well again: a retry goes over all of them
    assert client.post(f"/jobs/{done['id']}/retry").status_code == 202
    again = wait_for_job(client, f"/jobs/{done['id']}", FINAL, timeout=60)
    assert again["state"] == "succeeded", again
    assert again["result"] == {"updated": 5, "unknown": 0, "failed": 0}


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


def assert_a_slot_each(arrivals: list[tuple[float, str]], since: float) -> None:
    """Every call waits for a slot of its own, and the slots are 1/20 s apart from the first
    booking on, which came after `since`: so however late the machine's load makes a call,
    the k-th arrival can be no earlier than `since` + k/20 s. (The busiest second the bench
    reports also counts that lateness, which a loaded machine varies: it is no test.) A few
    milliseconds are allowed for Redis's clock, which books the slots, against this one."""
    times = sorted(at for at, _ in arrivals)
    early = [k for k, at in enumerate(times) if at < since + k / 20 - 0.005]
    assert not early, f"{len(early)} of {len(times)} calls came before a slot was theirs"


def test_the_rate_limit_holds_across_worker_processes(app, client, supplier, worker):
    """Two syncs at once run in two processes of the worker; together they stay within the
    20 calls a second that the supplier allows."""
    catalogue(app, supplier, 60, "RAT-")
    since = time.monotonic()
    locations = [client.post("/products/sync").headers["Location"] for _ in range(2)]
    for location in locations:
        assert wait_for_job(client, location, FINAL, timeout=60)["state"] == "succeeded"
    assert len(supplier.arrivals) == 120
    assert_a_slot_each(supplier.arrivals, since)


def test_retries_take_a_slot_of_the_rate_limit_too(app, client, supplier, worker):
    """Every call that reaches the supplier books a slot, a retry included. Every 5th product's
    first call is answered 503 or 429 with Retry-After: 0, so it is retried at once: 120
    calls, which take 120 slots (100 if retries went round the limit, and the last calls
    would come a second early)."""
    skus = catalogue(app, supplier, 100, "RTY-")
    for n, sku in enumerate(skus[::5]):
        supplier.script[sku] = ["503:0" if n % 2 else "429:0"]
    since = time.monotonic()
    done = sync_all(client)
    assert done["state"] == "succeeded", done
    assert done["result"] == {"updated": 100, "unknown": 0, "failed": 0}
    assert len(supplier.arrivals) == 120
    assert_a_slot_each(supplier.arrivals, since)


@pytest.fixture
def io_worker(migrated, servers, worker_settings, tmp_path):
    """Starts a worker like the io process (a thread pool, which enforces no time limit) on
    its own Redis database; returns a client of an app that publishes there, with the same
    time limits (they travel in the message). By default a 12 s hard limit: the sync's own
    deadline falls 4 s in (the 10 s soft limit less a call's connect and read timeouts)."""
    started: list = []

    def start(CELERY_TASK_TIME_LIMIT: str = "12", **settings: str):
        app = app_on_redis_db(migrated, 7, CELERY_TASK_TIME_LIMIT=CELERY_TASK_TIME_LIMIT)
        broker = current_settings(app).broker_url
        redis.Redis.from_url(broker).flushdb()
        process, _ = processes.start_worker(
            servers.database_url,
            broker,
            tmp_path,
            "io",
            **{
                **worker_settings,
                "CELERY_POOL": "threads",
                "CELERY_CONCURRENCY": "4",
                "CELERY_TASK_TIME_LIMIT": CELERY_TASK_TIME_LIMIT,
                "SUPPLIER_CONCURRENCY": "2",
                "SUPPLIER_BATCH_SIZE": "4",
                **settings,
            },
        )
        started.append(process)
        return keyed_client(app), redis.Redis.from_url(broker)

    yield start
    for process in started:
        processes.stop(process)


def task_ended(broker: redis.Redis) -> bool:
    """No message of the broker is queued or held unacknowledged: nothing can run again."""
    return broker.llen("io") == 0 and broker.hlen("unacked") == 0


def test_a_sync_longer_than_its_time_limit_stops_is_never_run_twice_and_resumes(
    app, supplier, io_worker
):
    skus = catalogue(app, supplier, 40, "DLN-")
    supplier.delay = 0.5  # 40 products, 2 at a time: 10 s, past the deadline
    client, broker = io_worker()
    location = client.post("/products/sync").headers["Location"]
    stopped = wait_for_job(client, location, FINAL, timeout=60)
    assert stopped["state"] == "failed", stopped
    assert "stopped at its time limit" in stopped["error"]
    assert stopped["progress"]["done"] < 40
    assert stopped["attempts"] == 1
    wait_until(lambda: task_ended(broker), 30, "the sync's message to be acknowledged")
    assert max(Counter(sku for _, sku in supplier.arrivals).values()) == 1

    supplier.delay = 0
    assert client.post(f"{location}/retry").status_code == 202
    done = wait_for_job(client, location, FINAL, timeout=60)
    assert done["state"] == "succeeded", done
    assert done["result"] == {"updated": 40, "unknown": 0, "failed": 0}
    # Resumed after the checkpoint: no product was asked for twice.
    assert Counter(sku for _, sku in supplier.arrivals) == Counter(skus)


def test_a_cancelled_sync_stops_at_its_next_batch(app, supplier, io_worker):
    skus = catalogue(app, supplier, 40, "CNS-")
    for sku in skus[4:]:
        supplier.script[sku] = ["wait"]  # the second batch waits for the gate
    client, broker = io_worker(CELERY_TASK_TIME_LIMIT="120")
    location = client.post("/products/sync").headers["Location"]
    wait_until(
        lambda: (client.get(location).get_json()["progress"] or {}).get("done", 0) == 4,
        30,
        "the first batch to be saved",
    )
    assert client.delete(location).status_code == 200
    supplier.gate.set()
    wait_until(lambda: task_ended(broker), 30, "the sync to stop")
    assert client.get(location).get_json()["state"] == "cancelled"
    assert len(supplier.arrivals) <= 8, "the sync went on past its next batch"


class ClosingServer:
    """Accepts connections and closes them at once: a supplier that cannot be reached."""

    def __init__(self) -> None:
        self.accepted = 0
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handler(self) -> type[socketserver.BaseRequestHandler]:
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server.accepted += 1

        return Handler

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_an_unreachable_supplier_fails_the_sync_after_a_few_calls_not_all(app, io_worker):
    seed(app, 50, "UNR-")
    closing = ClosingServer()
    try:
        client, _ = io_worker(
            SUPPLIER_API_URL=closing.url,
            SUPPLIER_RETRIES="1",
            SUPPLIER_BREAKER_THRESHOLD="3",
            CELERY_TASK_TIME_LIMIT="120",
        )
        location = client.post("/products/sync").headers["Location"]
        done = wait_for_job(client, location, FINAL, timeout=60)
    finally:
        closing.stop()
    assert done["state"] == "failed", done
    assert "the supplier is unreachable: 3 calls in a row could not connect" in done["error"]
    assert done["progress"]["done"] == 0, "unreachable products must be tried again on retry"
    # At most the calls under way when the breaker opened, each with its one retry.
    assert closing.accepted <= (3 + 2) * 2
