"""After a Redis outage, a dead worker's unacknowledged task comes back within the
visibility timeout and the bound on a sweep's lock, not kombu's five minutes."""

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
from tests.faults import paused
from tests.integration.helpers import client_and_worker
from tests.settings import settings_for
from tests.waiting import wait_for_job

pytestmark = pytest.mark.system


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
    client, worker = client_and_worker(
        migrated, servers.database_url, redis.url, tmp_path, **environ
    )
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
