"""Dramatiq with its Redis broker (`RedisBroker(url=...)`, `dramatiq.set_broker`), actors
sent with `actor.send()`, its default middleware, and its worker with two processes
(`--processes`, one per core here), each with its default 8 threads, or 1 thread to run two
jobs at once as the other peers do:

    dramatiq bench.peers.dramatiq_queue --processes 2               # 8 threads each
    dramatiq bench.peers.dramatiq_queue --processes 2 --threads 1

What it keeps: a message until a worker acknowledges it, after it ran (acks late: the
messages of a worker whose heartbeat stops go back to the queue); nothing once it is done
(results only with the Results middleware, in Redis). Events: no. An idle worker polls Redis
with a backoff of up to a second (`dramatiq_worker_timeout`), so a job that comes after a
quiet spell may wait that long.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench.commands import script
from bench.peers.protocol import Launch, mark, marker_url

if TYPE_CHECKING:
    from bench.harness import Servers

REDIS_DB = 10
PROCESSES = 2

dramatiq.set_broker(RedisBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")))


@dramatiq.actor
def noop() -> None:
    return None


@dramatiq.actor
def mark_actor(url: str, key: str) -> None:
    mark(url, key)


def _use_broker(url: str) -> None:
    """What the worker's import does with BENCH_REDIS_URL, here once the server runs: the
    actors declared on a broker of `url`."""
    broker = RedisBroker(url=url)
    dramatiq.set_broker(broker)
    for actor in (noop, mark_actor):
        actor.broker = broker
        broker.declare_actor(actor)


@dataclass
class _Queue:
    client: redis.Redis
    launches: list[Launch]
    marker_url: str

    def enqueue(self) -> None:
        noop.send()

    def enqueue_marker(self, key: str) -> None:
        mark_actor.send(self.marker_url, key)

    def remaining(self) -> int:
        # A message's body stays in this hash until it is acknowledged, after it ran.
        return self.client.hlen("dramatiq:default.msgs")

    def workers(self) -> list[Launch]:
        return self.launches


@dataclass(frozen=True)
class Dramatiq:
    threads: int = 8
    system: str = "Dramatiq"
    keeps_record: bool = False

    @property
    def setup(self) -> str:
        return f"{PROCESSES} processes, {self.threads} thread{'s' if self.threads > 1 else ''} each"

    @contextmanager
    def open(self, servers: Servers) -> Iterator[_Queue]:
        url, client = servers.redis_url(REDIS_DB), servers.empty_redis(REDIS_DB)
        _use_broker(url)
        command = [script("dramatiq"), __name__, "--processes", str(PROCESSES)]
        if self.threads != 8:
            command += ["--threads", str(self.threads)]
        ready = "Worker process is ready for action."
        launch = Launch(command, ready, {"BENCH_REDIS_URL": url}, ready_count=PROCESSES)
        yield _Queue(client, [launch], marker_url(servers))
