"""Workers ride out a Redis restart: they reconnect and consume again, unattended."""

import os
import signal

import pytest
import redis as redis_client

from local_servers import free_port, start_redis, wait_until
from tests import processes
from tests.auth import keyed_client
from tests.faults import paused
from tests.integration.helpers import app_on_redis, catalogue, client_and_worker
from tests.log_lines import for_a_person
from tests.waiting import wait_for_job

pytestmark = pytest.mark.system


def test_a_worker_resumes_within_30_seconds_after_redis_restarts(migrated, app, servers, tmp_path):
    redis = start_redis(tmp_path / "redis", port := free_port(), durable=True)
    client, worker = client_and_worker(migrated, servers.database_url, redis.url, tmp_path)
    try:
        before = client.post("/jobs/slow-add", json={"a": 1, "b": 1}).headers["Location"]
        assert wait_for_job(client, before, {"succeeded"})["result"] == 2

        redis.stop()
        down = client.post("/jobs/slow-add", json={"a": 1, "b": 2})
        assert down.status_code == 503
        redis = start_redis(tmp_path / "redis", port, durable=True)

        def published() -> str | None:
            response = client.post("/jobs/slow-add", json={"a": 2, "b": 3})
            return response.headers["Location"] if response.status_code == 202 else None

        after = wait_until(published, 10, "Redis to take jobs again")
        # Within 30 s of the restart (3 of them the task's own sleep).
        done = wait_for_job(client, after, {"succeeded", "failed"}, timeout=30)
        assert (done["state"], done["result"]) == ("succeeded", 5)
        assert worker.poll() is None
        assert for_a_person(tmp_path / "worker.log") == []
    finally:
        processes.stop(worker)
        redis.stop()


def test_a_worker_running_a_task_rides_out_redis_killed_outright(migrated, app, servers, tmp_path):
    """Redis dies (kill -9) while the worker holds an unacknowledged task: the worker must
    not exit, the task's job ends succeeded, and the worker consumes again once Redis is
    back."""
    redis = start_redis(tmp_path / "redis", port := free_port(), durable=True)
    client, worker = client_and_worker(migrated, servers.database_url, redis.url, tmp_path)
    try:
        running = client.post("/jobs/slow-add", json={"a": 3, "b": 4}).headers["Location"]
        wait_for_job(client, running, {"running"})
        os.kill(redis.process.pid, signal.SIGKILL)
        wait_until(lambda: not redis.alive(), 10, "Redis to die")
        redis.stop()
        redis = start_redis(tmp_path / "redis", port, durable=True)

        done = wait_for_job(client, running, {"succeeded", "failed", "dead"}, timeout=30)
        assert (done["state"], done["result"]) == ("succeeded", 7)

        def published() -> str | None:
            response = client.post("/jobs/slow-add", json={"a": 5, "b": 6})
            return response.headers["Location"] if response.status_code == 202 else None

        after = wait_until(published, 10, "Redis to take jobs again")
        done = wait_for_job(client, after, {"succeeded", "failed", "dead"}, timeout=30)
        assert (done["state"], done["result"]) == ("succeeded", 11)
        assert worker.poll() is None, "the worker exited when Redis died"
        # Riding out an outage is no reason to wake anyone: nothing at ERROR or above.
        assert for_a_person(tmp_path / "worker.log") == []
    finally:
        processes.stop(worker)
        redis.stop()


@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_a_task_whose_retry_cannot_be_published_is_handed_back_not_dropped(
    migrated, app, servers, supplier, worker_settings, tmp_path, fault
):
    """Redis dies or hangs mid-sync: the sync's next call to Redis fails (within
    REDIS_TIMEOUT when hung), and so does the publish of its retry. Celery would drop the
    message and the job would stay running; instead the job is queued again while Redis is
    still out, and once it is back the message is delivered again (after the visibility
    timeout: 2 x 15 s here) and the sync resumes to its end."""
    skus = catalogue(app, supplier, 8, "HBK-")
    for sku in skus[4:]:
        supplier.script[sku] = ["wait"]  # the second batch waits for the gate
    redis = start_redis(tmp_path / "redis", port := free_port(), durable=True)
    limits = {"CELERY_TASK_TIME_LIMIT": "15"}
    client = keyed_client(app_on_redis(migrated, redis.url, **limits))
    worker, _ = processes.start_worker(
        servers.database_url,
        redis.url,
        tmp_path,
        "io",
        **{
            **worker_settings,
            **limits,
            "REDIS_TIMEOUT": "1",
            # The sync's deadline is its soft limit less a call's timeouts: 11 s in.
            "SUPPLIER_READ_TIMEOUT": "1",
            "CELERY_POOL": "threads",
            "SUPPLIER_CONCURRENCY": "2",
            "SUPPLIER_BATCH_SIZE": "4",
        },
    )

    def requeued_while_redis_is_out() -> None:
        supplier.gate.set()
        waiting = wait_for_job(client, location, {"queued", "succeeded", "failed", "dead"})
        assert waiting["state"] == "queued", waiting
        assert "Redis unavailable" in waiting["error"]

    try:
        location = client.post("/products/sync").headers["Location"]
        wait_until(
            lambda: (client.get(location).get_json()["progress"] or {}).get("done") == 4,
            30,
            "the first batch to be saved",
        )
        if fault == "hung":
            with paused(redis.process.pid):
                requeued_while_redis_is_out()
        else:
            os.kill(redis.process.pid, signal.SIGKILL)
            wait_until(lambda: not redis.alive(), 10, "Redis to die")
            requeued_while_redis_is_out()
            redis.stop()
            redis = start_redis(tmp_path / "redis", port, durable=True)

        done = wait_for_job(client, location, {"succeeded", "failed", "dead"}, timeout=60)
        assert done["state"] == "succeeded", done
        assert done["result"] == {"updated": 8, "unknown": 0, "failed": 0}
        assert worker.poll() is None, f"the worker exited when Redis {fault}"
    finally:
        processes.stop(worker)
        redis.stop()


def test_a_worker_keeps_consuming_after_redis_drops_its_idle_connections(
    migrated, servers, tmp_path
):
    """A long idle spell, as Redis or a proxy ends it: idle connections are closed
    (Redis's own `timeout`, as Heroku Redis does after 300 s)."""
    redis = start_redis(tmp_path / "redis", free_port(), durable=False)
    admin = redis_client.Redis.from_url(redis.url)
    client, worker = client_and_worker(migrated, servers.database_url, redis.url, tmp_path)
    try:
        first = client.post("/jobs/slow-add", json={"a": 1, "b": 1}).headers["Location"]
        assert wait_for_job(client, first, {"succeeded"})["result"] == 2

        def connections() -> set[str]:
            return {c["id"] for c in admin.client_list()}

        before = connections()
        admin.config_set("timeout", 2)
        wait_until(
            lambda: before - connections(), 30, "Redis to close idle connections", interval=0.2
        )
        later = client.post("/jobs/slow-add", json={"a": 20, "b": 1}).headers["Location"]
        assert wait_for_job(client, later, {"succeeded", "failed"})["result"] == 21
        assert worker.poll() is None
    finally:
        admin.close()
        processes.stop(worker)
        redis.stop()
