"""Workers ride out a Redis restart: they reconnect and consume again, unattended."""

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
import redis as redis_client
from kombu import Connection
from kombu.transport import redis as kombu_redis
from redis import exceptions

from local_servers import free_port, start_redis, wait_until
from tasks.celery_config import celery_config
from tests import processes
from tests.auth import keyed_client
from tests.faults import paused
from tests.integration.helpers import catalogue
from tests.settings import settings_for
from tests.waiting import wait_for_job
from web import create_app

pytestmark = pytest.mark.system


def app_on_redis(migrated, redis_url, **environ):
    return create_app(settings_for(migrated.database_url, redis_url, **environ))


def client_and_worker(migrated, servers, redis_url, tmp_path, **environ):
    """An API client and a worker process, both on the Redis at `redis_url`."""
    worker, _ = processes.start_worker(
        servers.database_url, redis_url, tmp_path, "worker", **environ
    )
    return keyed_client(app_on_redis(migrated, redis_url, **environ)), worker


def test_a_worker_resumes_within_30_seconds_after_redis_restarts(migrated, app, servers, tmp_path):
    redis = start_redis(tmp_path / "redis", port := free_port(), durable=True)
    client, worker = client_and_worker(migrated, servers, redis.url, tmp_path)
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
    finally:
        processes.stop(worker)
        redis.stop()


def test_a_worker_running_a_task_rides_out_redis_killed_outright(migrated, app, servers, tmp_path):
    """Redis dies (kill -9) while the worker holds an unacknowledged task: the worker must
    not exit, the task's job ends succeeded, and the worker consumes again once Redis is
    back."""
    redis = start_redis(tmp_path / "redis", port := free_port(), durable=True)
    client, worker = client_and_worker(migrated, servers, redis.url, tmp_path)
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
    client, worker = client_and_worker(migrated, servers, redis.url, tmp_path)
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


# README, Delivery guarantees: "a sweep cut off by a Redis outage holds the next ones back
# at most 20 s".
SWEEP_HELD_BACK_AT_MOST = 20


def sweep_cut_off_by_redis_hanging(channel: kombu_redis.Channel, redis_pid: int) -> None:
    """kombu's sweep for messages of dead workers, as a worker runs it, with Redis hanging as
    soon as the sweep holds its lock: the sweep fails, and so does its release of the lock,
    which stays in Redis until it expires."""
    take_lock = kombu_redis.Mutex
    with ExitStack() as outage, pytest.MonkeyPatch.context() as patch:

        @contextmanager
        def hang_once_locked(
            client: redis_client.Redis, name: str, expire: float
        ) -> Iterator[None]:
            with take_lock(client, name, expire):
                outage.enter_context(paused(redis_pid))
                yield

        patch.setattr(kombu_redis, "Mutex", hang_once_locked)
        with pytest.raises((exceptions.ConnectionError, exceptions.TimeoutError)):
            channel.qos.restore_visible(
                num=channel.unacked_restore_limit, interval=channel.unacked_restore_throttle
            )


def test_a_sweep_cut_off_by_redis_holds_a_dead_workers_task_back_at_most_20_seconds(
    migrated, app, servers, tmp_path
):
    """A worker killed outright leaves its task unacknowledged, and the next sweep for such
    messages is cut off by Redis hanging, leaving its lock held (kombu's own expiry: 300 s).
    A worker started then gets the task once the lock has expired."""
    redis = start_redis(tmp_path / "redis", free_port(), durable=False)
    admin = redis_client.Redis.from_url(redis.url)
    # A visibility timeout of 10 s; the sweep's calls to the hung Redis fail within 1 s.
    environ = {"CELERY_TASK_TIME_LIMIT": "5", "REDIS_TIMEOUT": "1"}
    client, worker = client_and_worker(migrated, servers, redis.url, tmp_path, **environ)
    conf = celery_config(settings_for(migrated.database_url, redis.url, **environ))
    options = conf["broker_transport_options"]
    broker = Connection(
        conf["broker_url"], transport=conf["broker_transport"], transport_options=options
    )
    try:
        location = client.post("/jobs/slow-add", json={"a": 2, "b": 2}).headers["Location"]
        wait_for_job(client, location, {"running"})
        processes.kill(worker)
        channel = broker.default_channel
        # Should the worker have been killed in the milliseconds of a sweep of its own, its
        # lock lasts until it expires: the sweep under test must be the one to take it.
        wait_until(
            lambda: not admin.exists(channel.unacked_mutex_key),
            SWEEP_HELD_BACK_AT_MOST + 10,
            "no sweep to hold the lock",
        )
        sweep_cut_off_by_redis_hanging(channel, redis.process.pid)
        cut_off = time.monotonic()
        assert admin.exists(channel.unacked_mutex_key), "the sweep left no lock held"
        assert admin.hlen(channel.unacked_key) == 1, "the task is no longer unacknowledged"

        worker, _ = processes.start_worker(
            servers.database_url, redis.url, tmp_path, "second-worker", **environ
        )
        # The lock expires (the visibility timeout, counted from the delivery, before it),
        # the next sweep hands the task back, and it runs 3 s; 10 s to spare.
        deadline = cut_off + SWEEP_HELD_BACK_AT_MOST + options["unacked_restore_interval"] + 3 + 10
        done = wait_for_job(
            client, location, {"succeeded", "failed", "dead"}, timeout=deadline - time.monotonic()
        )
        assert (done["state"], done["result"]) == ("succeeded", 4)
    finally:
        broker.release()
        admin.close()
        processes.stop(worker)
        redis.stop()
