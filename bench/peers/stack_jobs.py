"""This stack's job path, measured as the peers are: a job started by
`tasks.jobs.start_job(task, {})` in an app context of the stack (its row committed, then its
task published), run by the stack's own worker with the stack's configuration
(tasks/celery_config.py: acks late, events, prefetch 1 unless
CELERY_WORKER_PREFETCH_MULTIPLIER says otherwise):

    celery -A bench.stack worker --concurrency 2 --pool prefork --queues celery \
        --prefetch-multiplier 1

and the same task sent plainly (`task.delay()`: no job row), as a shell or beat sends one,
whose worker gets a database of its own so that the table can show it made no PostgreSQL
transaction.

What a job keeps: its row in `jobs` (state, attempts, progress, result, timestamps), every
delivery counted in the ledger; acks late: yes (and handed back if its worker dies); events:
yes (sent, received, started, succeeded). A plain task keeps nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import func, select, text

from bench.commands import celery_worker
from bench.peers.protocol import Launch, marker_url
from bench.tasks_path import STACK_OPTIONS, stack_app
from tasks.extensions import db
from tasks.jobs import start_job
from tasks.models import Job, JobState

if TYPE_CHECKING:
    from bench.harness import Servers

JOBS_DB, TASKS_DB = 2, 5
# The plain tasks' worker's database: whatever PostgreSQL counts there, it did.
PLAIN_DATABASE = "bench_plain"


def _worker(environment: dict[str, str], prefetch: int) -> list[Launch]:
    options = (*STACK_OPTIONS, "--prefetch-multiplier", str(prefetch))
    return [Launch(celery_worker("bench.stack", *options), "ready.", environment)]


@dataclass
class _Jobs:
    celery: Any
    launches: list[Launch]
    marker_url: str
    enqueued: int = 0

    def enqueue(self) -> None:
        start_job(self.celery.tasks["bench.noop"], {})
        self.enqueued += 1

    def enqueue_marker(self, key: str) -> None:
        start_job(self.celery.tasks["bench.mark"], {"url": self.marker_url, "key": key})

    def remaining(self) -> int:
        done = db.session.scalar(
            select(func.count()).where(Job.kind == "bench.noop", Job.state == JobState.SUCCEEDED)
        )
        db.session.rollback()
        return self.enqueued - done

    def workers(self) -> list[Launch]:
        return self.launches


@dataclass(frozen=True)
class StackJobs:
    prefetch: int = 1
    system: str = "this stack, jobs"
    keeps_record: bool = True

    @property
    def setup(self) -> str:
        default = " (the default)" if self.prefetch == 1 else ""
        return f"prefork, 2 processes, prefetch {self.prefetch}{default}"

    @contextmanager
    def open(self, servers: Servers) -> Iterator[_Jobs]:
        import bench.stack  # noqa: F401 (its tasks, in every app of the stack)

        app = stack_app(servers, JOBS_DB)
        servers.empty_redis(JOBS_DB)
        with app.app_context():
            db.session.execute(text("TRUNCATE jobs CASCADE"))
            db.session.commit()
            launches = _worker(servers.environment(JOBS_DB), self.prefetch)
            yield _Jobs(app.extensions["celery"], launches, marker_url(servers))


@dataclass
class _Tasks:
    celery: Any
    broker: redis.Redis
    launches: list[Launch]
    marker_url: str

    def enqueue(self) -> None:
        self.celery.tasks["bench.noop"].delay()

    def enqueue_marker(self, key: str) -> None:
        self.celery.tasks["bench.mark"].delay(url=self.marker_url, key=key)

    def remaining(self) -> int:
        return self.broker.llen("celery") + self.broker.hlen("unacked")

    def workers(self) -> list[Launch]:
        return self.launches


@dataclass(frozen=True)
class StackTasks:
    system: str = "this stack, plain tasks"
    setup: str = "prefork, 2 processes, prefetch 1 (the default)"
    keeps_record: bool = False

    @contextmanager
    def open(self, servers: Servers) -> Iterator[_Tasks]:
        import bench.stack  # noqa: F401
        from bench.peers.measure import own_database

        environment = servers.environment(TASKS_DB)
        environment["DATABASE_URL"] = own_database(servers, PLAIN_DATABASE)
        app = stack_app(servers, TASKS_DB)
        broker = servers.empty_redis(TASKS_DB)
        with app.app_context():
            launches = _worker(environment, prefetch=1)
            yield _Tasks(app.extensions["celery"], broker, launches, marker_url(servers))
