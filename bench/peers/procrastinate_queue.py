"""Procrastinate: jobs in PostgreSQL, through psycopg 3 (`PsycopgConnector`), deferred with
`task.defer()` (its synchronous connector, opened once: `with app.open()`), its schema
applied as its docs say (`procrastinate schema --apply`; here `apply_schema()`), and the
periodic task its production notes add to retry the jobs of a worker that died. Its worker
runs jobs on asyncio (a synchronous task in a thread), `--concurrency` at once, and wakes on
PostgreSQL's LISTEN/NOTIFY; set up two ways here, one process running two jobs at once (its
usual set-up) and two processes running one each:

    procrastinate --app=bench.peers.procrastinate_queue.app worker --concurrency 2
    procrastinate --app=bench.peers.procrastinate_queue.app worker    # twice

What it keeps: a row per job in `procrastinate_jobs` (todo, doing, succeeded or failed,
attempts, arguments), never deleted unless asked (`--delete-jobs`), and an event row for each
change of state (`procrastinate_events`): a durable record. Acks late: a job stays `doing`
while it runs; a worker that dies leaves it there until the periodic task retries it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import procrastinate

from bench.commands import script
from bench.peers.protocol import Launch, mark, marker_url

if TYPE_CHECKING:
    from bench.harness import Servers

DATABASE = "bench_procrastinate"

app = procrastinate.App(
    connector=procrastinate.PsycopgConnector(conninfo=os.environ.get("BENCH_DATABASE_URL", ""))
)


@app.task(name="noop")
def noop() -> None:
    return None


@app.task(name="mark")
def mark_task(url: str, key: str) -> None:
    mark(url, key)


@app.periodic(cron="*/10 * * * *")
@app.task(queueing_lock="retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
    for job in await app.job_manager.get_stalled_jobs():
        await app.job_manager.retry_job(job)


@dataclass
class _Queue:
    cursor: Any
    launches: list[Launch]
    marker_url: str

    def enqueue(self) -> None:
        noop.defer()

    def enqueue_marker(self, key: str) -> None:
        mark_task.defer(url=self.marker_url, key=key)

    def remaining(self) -> int:
        self.cursor.execute(
            "SELECT count(*) FROM procrastinate_jobs "
            "WHERE task_name = 'noop' AND status <> 'succeeded'"
        )
        return self.cursor.fetchone()[0]

    def workers(self) -> list[Launch]:
        return self.launches


@dataclass(frozen=True)
class Procrastinate:
    processes: int = 1
    concurrency: int = 2
    system: str = "Procrastinate"
    keeps_record: bool = True

    @property
    def setup(self) -> str:
        processes = f"{self.processes} process{'es' if self.processes > 1 else ''}"
        return f"{processes}, concurrency {self.concurrency}"

    @contextmanager
    def open(self, servers: Servers) -> Iterator[_Queue]:
        from bench.peers.measure import own_database, postgres

        url = own_database(servers, DATABASE)
        connector = procrastinate.PsycopgConnector(conninfo=url)
        with app.replace_connector(connector), app.open(), postgres(url) as cursor:
            cursor.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            if not cursor.fetchone()[0]:
                app.schema_manager.apply_schema()
            cursor.execute("TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE")
            yield _Queue(cursor, self._launches(url), marker_url(servers))

    def _launches(self, url: str) -> list[Launch]:
        command = [script("procrastinate"), f"--app={__name__}.app", "worker"]
        if self.concurrency != 1:
            command += ["--concurrency", str(self.concurrency)]
        ready = Launch(command, "Starting worker", {"BENCH_DATABASE_URL": url})
        return [ready] * self.processes
