"""What every benchmark row needs: the servers, worker processes, and the row itself."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

from bench.commands import celery_worker
from local_servers import Server, free_port, start_postgres, start_redis, wait_until
from tasks.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, its baseline measured in the same run, and a goal."""

    name: str
    figure: float
    baseline: float
    unit: str
    goal: str
    met: bool
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.figure / self.baseline if self.baseline else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


@dataclass(frozen=True)
class Table:
    """A table of its own (the peers' figures side by side), printed before the rows and
    saved with them."""

    title: str
    columns: list[str]
    lines: list[list[str]]
    records: list[dict[str, object]]

    def render(self) -> str:
        widths = [
            max(len(column), *(len(line[i]) for line in self.lines))
            for i, column in enumerate(self.columns)
        ]

        def cells(values: list[str]) -> str:
            pairs = zip(values, widths, strict=True)
            return "  ".join(value.ljust(width) for value, width in pairs)

        rule = "-" * len(cells(self.columns))
        return "\n".join([self.title, cells(self.columns), rule, *map(cells, self.lines)])

    def as_dict(self) -> dict[str, object]:
        return {"title": self.title, "records": self.records}


@dataclass
class Servers:
    postgres: Server
    redis: Server
    scratch: Path

    def session_ids(self) -> list[int]:
        """The sessions of PostgreSQL's and Redis's processes (each leads its own), for a
        CpuMeter."""
        return [pid for server in (self.postgres, self.redis) if (pid := server.process.pid)]

    def redis_url(self, db: int) -> str:
        return self.redis.url.rsplit("/", 1)[0] + f"/{db}"

    def empty_redis(self, db: int) -> redis.Redis:
        """A client of Redis database `db`, emptied first: each row starts from nothing."""
        client = redis.Redis.from_url(self.redis_url(db))
        client.flushdb()
        return client

    def settings(self, db: int, **environ: str) -> Settings:
        return Settings.from_environ(self.environment(db, **environ))

    def environment(self, db: int, **environ: str) -> dict[str, str]:
        """What a process of the stack gets, publishing to Redis database `db`."""
        return {
            "APP_ENV": "test",
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis_url(db),
            # The benchmark starts far more jobs than a person would.
            "JOBS_RATE_LIMIT_PER_KEY": "100000000/minute",
            "JOBS_RATE_LIMIT_PER_ADDRESS": "100000000/minute",
            **environ,
        }


@contextmanager
def servers(scratch: Path) -> Iterator[Servers]:
    """PostgreSQL and Redis as production runs them, and `make run` and compose too: every
    commit flushed to disk (fsync, synchronous_commit), Redis with its append-only file
    (appendfsync everysec, Redis's default)."""
    postgres = start_postgres(scratch, free_port(), "bench", durable=True)
    redis = start_redis(scratch, free_port(), durable=True)
    try:
        yield Servers(postgres, redis, scratch)
    finally:
        redis.stop()
        postgres.stop()


def process_environment(environment: dict[str, str]) -> dict[str, str]:
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "FLASK_", "DATABASE_", "REDIS_"))
    }
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**inherited, "PYTHONUNBUFFERED": "1", "PATH": path, **environment}


@dataclass
class Process:
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


def start(command: list[str], environment: dict[str, str], log: Path) -> Process:
    with log.open("wb") as out:
        popen = subprocess.Popen(
            command,
            env=process_environment(environment),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Process(popen, log)


@contextmanager
def worker(app: str, environment: dict[str, str], log: Path, *options: str) -> Iterator[Process]:
    """A Celery worker of `app` (bench.plain or bench.stack), once it is ready."""
    process = start(celery_worker(app, *options), environment, log)
    try:
        wait_until(
            lambda: process.popen.poll() is None and "ready." in log.read_text(errors="replace"),
            60,
            f"the {app} worker to start (log: {log})",
            interval=0.05,
        )
        yield process
    finally:
        process.stop()


def timed(until: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `until()` holds, polled every 20 ms."""
    started = time.perf_counter()
    wait_until(until, timeout, what, interval=0.02)
    return time.perf_counter() - started


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]
