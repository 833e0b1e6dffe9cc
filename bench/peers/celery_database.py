"""Celery keeping every task's state in PostgreSQL, as a Celery user does to keep a record of
each job: the SQLAlchemy database result backend, with the task's name, arguments and worker
(`result_extended`), a STARTED state as it starts (`task_track_started`), and acknowledged
only once it ran (`task_acks_late`); Redis as broker, every other setting at its default
(prefetch 4). Its worker without events (the record is in the database):

    celery -A bench.peers.celery_database worker --concurrency 2 --pool prefork

What it keeps: a row per task in `celery_taskmeta` (STARTED, then SUCCESS or FAILURE, with
its result), from the moment a worker starts it (a task still queued is in no table), until
`celery.backend_cleanup` (beat, daily) deletes those older than `result_expires` (a day);
acks late: yes; events: no.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import Celery

from bench.commands import celery_worker
from bench.peers.protocol import Launch, mark, marker_url

if TYPE_CHECKING:
    from bench.harness import Servers

BROKER_DB = 3
DATABASE = "bench_celery"
OPTIONS = ("--concurrency", "2", "--pool", "prefork")


def noop() -> None:
    return None


def database_app(broker: str, database_url: str) -> Celery:
    app = Celery("database", broker=broker, backend=f"db+{database_url}")
    app.conf.update(result_extended=True, task_track_started=True, task_acks_late=True)
    app.task(name="database.noop")(noop)
    app.task(name="database.mark")(mark)
    return app


app = database_app(
    os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"),
    os.environ.get("BENCH_DATABASE_URL", "postgresql://127.0.0.1:5432/bench_celery"),
)


@dataclass
class _Queue:
    app: Celery
    cursor: Any
    environment: dict[str, str]
    marker_url: str
    enqueued: int = 0

    def enqueue(self) -> None:
        self.app.tasks["database.noop"].delay()
        self.enqueued += 1

    def enqueue_marker(self, key: str) -> None:
        self.app.tasks["database.mark"].delay(self.marker_url, key)

    def remaining(self) -> int:
        self.cursor.execute("SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'")
        return self.enqueued - self.cursor.fetchone()[0]

    def workers(self) -> list[Launch]:
        command = celery_worker("bench.peers.celery_database", *OPTIONS)
        return [Launch(command, "ready.", self.environment)]


@dataclass(frozen=True)
class CeleryDatabase:
    system: str = "Celery, database backend"
    setup: str = "prefork, 2 processes, acks late"
    keeps_record: bool = True

    @contextmanager
    def open(self, servers: Servers) -> Iterator[_Queue]:
        from bench.peers.measure import own_database, postgres

        broker, database_url = servers.redis_url(BROKER_DB), own_database(servers, DATABASE)
        servers.empty_redis(BROKER_DB)
        bench_app = database_app(broker, database_url)
        bench_app.backend  # noqa: B018 (the backend makes its tables as it starts)
        environment = {"BENCH_BROKER_URL": broker, "BENCH_DATABASE_URL": database_url}
        with postgres(database_url) as cursor:
            cursor.execute("TRUNCATE celery_taskmeta, celery_tasksetmeta")
            try:
                yield _Queue(bench_app, cursor, environment, marker_url(servers))
            finally:
                bench_app.close()
