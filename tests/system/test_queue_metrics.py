"""The queue and job metrics Flower serves (tasks/observability/queue_metrics.py), against a
real worker, Flower and Redis: jobs waiting for a stopped worker are counted in its queue and in the
ledger, and counted out once it ran them; a dependency down is a gauge at 0, not a failed
scrape."""

import psutil
import pytest
import redis
import requests

from local_servers import free_port, wait_until
from tasks.jobs import start_job
from tasks.work.stock_report import stock_value_report
from tests import processes
from tests.faults import paused
from tests.flower_server import flower_server
from tests.integration.helpers import app_on_redis
from tests.metrics_text import total

pytestmark = pytest.mark.system

REDIS_DB = 13
KIND = stock_value_report.name


@pytest.fixture(scope="module")
def stoppable_worker(servers, redis_url, tmp_path_factory):
    process, _ = processes.start_worker(
        servers.database_url, redis_url, tmp_path_factory.mktemp("worker"), "metrics-worker"
    )
    yield process
    processes.stop(process)


def blocked_on_redis(process: psutil.Process, broker: redis.Redis) -> bool:
    """Whether a connection of `process` waits in a blocking pop: Redis would hand it the
    next message, stopped or not."""
    ports = {
        connection.laddr.port
        for connection in process.net_connections(kind="tcp")
        if connection.raddr
        and connection.raddr.port == broker.connection_pool.connection_kwargs["port"]
    }
    return any(
        int(client["addr"].rsplit(":", 1)[1]) in ports and "b" in client["flags"]
        for client in broker.client_list()
    )


def test_jobs_waiting_for_a_stopped_worker_are_in_its_queue_and_the_ledger(
    app, migrated, redis_url, stoppable_worker, flower
):
    api = app_on_redis(migrated, redis_url)
    broker = redis.Redis.from_url(redis_url)
    with paused(stoppable_worker.pid):
        # Its last blocking pop has timed out (kombu waits 1 s at a time): the jobs stay queued.
        wait_until(
            lambda: not blocked_on_redis(psutil.Process(stoppable_worker.pid), broker),
            30,
            "the stopped worker to wait on Redis no more",
        )
        with api.app_context():
            for min_stock in range(5):
                start_job(stock_value_report, {"min_stock": min_stock})
        waiting = flower.metrics()
        assert total(waiting, "celery_queue_length", queue="celery") == 5
        assert total(waiting, "celery_queue_length", queue="io") == 0
        assert total(waiting, "products_jobs", kind=KIND, state="queued") == 5
        assert total(waiting, "products_jobs", kind=KIND, state="succeeded") == 0
        assert total(waiting, "products_job_oldest_queued_age_seconds", kind=KIND) > 0
        assert total(waiting, "products_metrics_collector_up") == 2

    def all_ran() -> str | None:
        text = flower.metrics()
        done = total(text, "products_jobs", kind=KIND, state="succeeded") == 5
        # Flower learns of each run from the worker's task events, which leave in batches a
        # tenth of a second apart (tasks/worker_events.py): after the ledger, not with it.
        heard = total(text, "flower_task_runtime_seconds_bucket", le="1800.0") >= 5
        return text if done and heard and total(text, "celery_queue_length") == 0 else None

    ran = wait_until(all_ran, 60, "the worker to run the 5 jobs", interval=0.2)
    assert total(ran, "products_jobs", kind=KIND, state="queued") == 0
    assert total(ran, "products_jobs", kind=KIND, state="running") == 0
    assert total(ran, "products_job_oldest_queued_age_seconds", kind=KIND) == 0
    assert total(ran, "products_job_redeliveries", kind=KIND) == 0
    assert total(ran, "celery_unacked_messages") == 0
    assert total(ran, "flower_task_runtime_seconds_bucket", le="1800.0") >= 5


def test_flower_metrics_need_its_password(flower):
    assert requests.get(f"{flower.url}/metrics", timeout=10).status_code == 401
    assert (
        requests.get(f"{flower.url}/metrics", auth=("admin", "no"), timeout=10).status_code == 401
    )


def test_a_database_that_does_not_answer_is_a_gauge_at_0_not_a_failed_scrape(redis_url, tmp_path):
    nowhere = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    with flower_server(nowhere, redis_url, tmp_path) as flower:
        text = flower.metrics()
        assert total(text, "products_metrics_collector_up", source="postgres") == 0
        assert total(text, "products_metrics_collector_up", source="redis") == 1
        assert "products_jobs{" not in text
        assert total(text, "celery_queue_length", queue="celery") == 0
        assert "celery_queue_length{" in text
        assert requests.get(f"{flower.url}/healthcheck", timeout=10).status_code == 200
