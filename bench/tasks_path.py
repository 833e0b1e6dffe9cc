"""The task path: the stack's worker draining jobs (stack_drain, which
bench/observability.py uses); how soon an idle worker starts a job; a
worker's memory over many jobs. The throughput of jobs and plain tasks against the tutorial's
Celery and the other job queues: bench/peers/."""

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psutil
import redis
from sqlalchemy import func, select, text

from bench.cpu import CpuMeter
from bench.harness import Row, Servers, percentile, timed, worker
from tasks.extensions import db
from tasks.jobs import publish_job, start_job
from tasks.models import Job, JobState
from web import create_app

CONCURRENCY = "2"
PLAIN_OPTIONS = ("--concurrency", CONCURRENCY, "--pool", "prefork", "-E")
STACK_OPTIONS = ("--concurrency", CONCURRENCY, "--pool", "prefork", "--queues", "celery")


def stack_app(servers: Servers, db_number: int) -> Any:
    return create_app(servers.settings(db_number))


def postgres_transactions(servers: Servers, database: str) -> int:
    """Transactions PostgreSQL has counted in `database` (committed or not), asked from the
    benchmark's own database so that asking counts none."""
    app = stack_app(servers, 15)
    with app.app_context():
        count = db.session.scalar(
            text(
                "SELECT coalesce(sum(xact_commit + xact_rollback), 0) FROM pg_stat_database "
                "WHERE datname = :database"
            ),
            {"database": database},
        )
        db.session.rollback()
    return int(count)


@dataclass(frozen=True)
class Drain:
    per_second: float
    # Over the worker, PostgreSQL and Redis, while they drained.
    cpu_seconds_per_1000: float


def stack_drain(
    servers: Servers,
    count: int,
    db_number: int,
    options: tuple[str, ...] = STACK_OPTIONS,
    **environ: str,
) -> Drain:
    """Jobs a second through the stack's worker, and the CPU they took: `count` no-op jobs
    (a job row, the ledger), queued, then drained."""
    from bench.stack import noop

    app = stack_app(servers, db_number)
    servers.empty_redis(db_number)
    with app.app_context():
        db.session.execute(text("TRUNCATE jobs CASCADE"))
        db.session.commit()
        task = app.extensions["celery"].tasks[noop.name]
        for _ in range(count):
            start_job(task, {})

    def drained() -> bool:
        with app.app_context():
            done = db.session.scalar(select(func.count()).where(Job.state == JobState.SUCCEEDED))
            db.session.rollback()
        return done >= count

    log = servers.scratch / f"stack-{db_number}.log"
    environment = {**servers.environment(db_number), **environ}
    with worker("bench.stack", environment, log, *options) as process:
        meter = CpuMeter(process.pid, *servers.session_ids())
        meter.start()
        seconds = timed(drained, 600, "the stack's worker to drain")
        cpu = meter.stop()
    return Drain(count / seconds, cpu * 1000 / count)


def enqueue_to_start(servers: Servers, count: int) -> Row:
    """An idle worker, jobs one at a time: from the publish to the worker's claim of it."""
    from bench.stack import noop

    app = stack_app(servers, 6)
    servers.empty_redis(6)
    latencies = []
    log = servers.scratch / "latency.log"
    with worker("bench.stack", servers.environment(6), log, *STACK_OPTIONS), app.app_context():
        for _ in range(count):
            # start_job, with the clock read between the row's commit and the publish.
            job = Job(kind=noop.name, arguments={}, state=JobState.QUEUED)
            db.session.add(job)
            db.session.flush()
            db.session.expunge(job)
            db.session.commit()
            published = time.time()
            publish_job(job)

            def claimed(job_id: uuid.UUID = job.id) -> Any:
                at = db.session.scalar(select(Job.claimed_at).where(Job.id == job_id))
                db.session.rollback()
                return at

            # The claim's time is PostgreSQL's clock, this machine's: polling adds nothing.
            latencies.append(timed_value(claimed).timestamp() - published)
    baseline = _redis_round_trips(servers, count)
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    return Row(
        "enqueue → start latency",
        p50,
        percentile(baseline, 0.5) * 1000,
        "ms p50",
        "p50 ≤ 1 ms, p99 ≤ 5 ms",
        p50 <= 1 and p99 <= 5,
        f"p99 {p99:.2f} ms; baseline: redis-py LPUSH → BRPOP, p99 "
        f"{percentile(baseline, 0.99) * 1000:.2f} ms",
    )


def timed_value(probe: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the worker did not claim the job")
        time.sleep(0.005)
    return value


def _redis_round_trips(servers: Servers, count: int) -> list[float]:
    pusher = servers.empty_redis(7)
    popper = redis.Redis.from_url(servers.redis_url(7))
    samples: list[float] = []
    received = threading.Event()

    def pop() -> None:
        for _ in range(count):
            popper.brpop(["latency"], timeout=10)
            samples.append(time.perf_counter() - sent[0])
            received.set()

    sent = [0.0]
    consumer = threading.Thread(target=pop)
    consumer.start()
    for _ in range(count):
        received.clear()
        time.sleep(0.001)  # the consumer is waiting in BRPOP before the push
        sent[0] = time.perf_counter()
        pusher.lpush("latency", uuid.uuid4().hex)
        received.wait(10)
    consumer.join()
    return samples


def worker_memory(servers: Servers, first: int, second: int) -> Row:
    """RSS of each process of the worker (the main one and its pool) after start-up, after
    `first` jobs and after `second` in all; the figure is the process that grew most."""
    from bench.stack import noop

    app = stack_app(servers, 8)
    servers.empty_redis(8)
    log = servers.scratch / "memory.log"
    with worker("bench.stack", servers.environment(8), log, *STACK_OPTIONS) as process:

        def rss() -> dict[int, int]:
            main = psutil.Process(process.pid)
            return {p.pid: p.memory_info().rss for p in [main, *main.children(recursive=True)]}

        def run_jobs(count: int) -> None:
            with app.app_context():
                db.session.execute(text("TRUNCATE jobs CASCADE"))
                db.session.commit()
                task = app.extensions["celery"].tasks[noop.name]
                for _ in range(count):
                    start_job(task, {})

                def done() -> bool:
                    finished = db.session.scalar(
                        select(func.count()).where(Job.state == JobState.SUCCEEDED)
                    )
                    db.session.rollback()
                    return finished >= count

                timed(done, 900, f"{count} jobs to finish")

        at_start = rss()
        run_jobs(first)
        after_first = rss()
        run_jobs(second - first)
        after_second = rss()
    if not at_start.keys() == after_first.keys() == after_second.keys():
        raise RuntimeError("a process of the worker was replaced while it was measured")
    pid = max(at_start, key=lambda pid: after_second[pid] / at_start[pid])
    growth = after_second[pid] / at_start[pid] - 1
    each = ", ".join(
        f"{at_start[p] / 2**20:.0f} → {after_first[p] / 2**20:.0f} → {after_second[p] / 2**20:.0f}"
        for p in at_start
    )
    return Row(
        "worker memory",
        after_second[pid] / 2**20,
        at_start[pid] / 2**20,
        "MiB RSS",
        "flat (growth < 10 %)",
        growth < 0.10,
        f"the process that grew most, {growth:+.1%} after {second} jobs; each process "
        f"(main first) at start → after {first} → after {second}, MiB: {each}",
    )
