"""RQ, as its documentation sets it up: `Queue(connection=Redis)`, `queue.enqueue(function)`,
and `rq worker`, which runs one job at a time, so two of them for two at once:

    rq worker --url redis://... default                                # the default Worker
    rq worker --url redis://... --worker-class rq.SimpleWorker default

The default `Worker` forks a work horse for each job, to isolate it (a crash, a leak, a hard
time-out kills the horse, not the worker); `SimpleWorker` runs jobs in its own process, which
RQ's notes on performance keep for very short jobs that are fully trusted.

What it keeps: each job's hash in Redis (status, result), for 500 s after it succeeded
(`result_ttl`) and a year after it failed; no durable record past that. A job taken by a
worker that dies is found abandoned by a later worker's maintenance and moved to the failed
jobs (run again only if it was enqueued with `Retry`): not acknowledged late. Events: no
(the job's and the workers' state in Redis is what rq-dashboard shows).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rq import Queue as RqQueue

from bench.commands import script
from bench.peers.protocol import Launch, mark, marker_url

if TYPE_CHECKING:
    from bench.harness import Servers

REDIS_DB = 4
PROCESSES = 2


def noop() -> None:
    return None


@dataclass
class _Queue:
    queue: RqQueue
    url: str
    worker_class: str
    marker_url: str
    enqueued: int = 0

    def enqueue(self) -> None:
        self.queue.enqueue(noop)
        self.enqueued += 1

    def enqueue_marker(self, key: str) -> None:
        self.queue.enqueue(mark, self.marker_url, key)

    def remaining(self) -> int:
        return self.enqueued - self.queue.finished_job_registry.get_job_count(cleanup=False)

    def workers(self) -> list[Launch]:
        command = [script("rq"), "worker", "--url", self.url, "--worker-class", self.worker_class]
        command.append(self.queue.name)
        return [Launch(command, "Listening on") for _ in range(PROCESSES)]


@dataclass(frozen=True)
class Rq:
    worker_class: str = "rq.Worker"
    system: str = "RQ"
    keeps_record: bool = False

    @property
    def setup(self) -> str:
        return f"{self.worker_class.rsplit('.', 1)[-1]}, {PROCESSES} processes"

    @contextmanager
    def open(self, servers: Servers) -> Iterator[_Queue]:
        url, connection = servers.redis_url(REDIS_DB), servers.empty_redis(REDIS_DB)
        queue = RqQueue("default", connection=connection)
        yield _Queue(queue, url, self.worker_class, marker_url(servers))
