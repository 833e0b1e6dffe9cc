"""The tutorial's Celery, the baseline (bench/plain.py): `Celery(broker, backend)` with Redis
as both and every other setting at its default; tasks sent with `.delay()`; its worker as the
tutorial starts it, with events on so that Flower can follow it:

    celery -A bench.plain worker --concurrency 2 --pool prefork -E

What it keeps: each task's result in Redis for a day (`result_expires`), and nothing else; a
task is acknowledged as it starts (a worker killed mid-task loses it); events: yes (-E).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from celery import Celery

from bench.commands import celery_worker
from bench.peers.protocol import Launch, marker_url
from bench.plain import tutorial_app
from bench.tasks_path import PLAIN_OPTIONS

if TYPE_CHECKING:
    from bench.harness import Servers

BROKER_DB, BACKEND_DB = 0, 1


@dataclass
class _Queue:
    app: Celery
    results: redis.Redis
    environment: dict[str, str]
    marker_url: str
    enqueued: int = 0

    def enqueue(self) -> None:
        self.app.tasks["plain.noop"].delay()
        self.enqueued += 1

    def enqueue_marker(self, key: str) -> None:
        self.app.tasks["plain.mark"].delay(self.marker_url, key)

    def remaining(self) -> int:
        # One result key per task done.
        return self.enqueued - self.results.dbsize()

    def workers(self) -> list[Launch]:
        return [Launch(celery_worker("bench.plain", *PLAIN_OPTIONS), "ready.", self.environment)]


@dataclass(frozen=True)
class TutorialCelery:
    system: str = "Celery, the tutorial's"
    setup: str = "prefork, 2 processes, -E"
    keeps_record: bool = False

    @contextmanager
    def open(self, servers: Servers) -> Iterator[_Queue]:
        broker, backend = servers.redis_url(BROKER_DB), servers.redis_url(BACKEND_DB)
        servers.empty_redis(BROKER_DB)
        servers.empty_redis(BACKEND_DB)
        app = tutorial_app(broker, backend)
        environment = {"BENCH_BROKER_URL": broker, "BENCH_RESULT_BACKEND": backend}
        try:
            yield _Queue(app, redis.Redis.from_url(backend), environment, marker_url(servers))
        finally:
            app.close()
