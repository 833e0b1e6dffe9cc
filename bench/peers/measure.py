"""One peer at one set-up, measured: N no-op jobs enqueued with its workers stopped, then
drained; then jobs one at a time with its workers idle; and the CPU of every process a job
cost. The benchmark's side only: peers' workers never import this module."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import psycopg2
import redis

from bench.cpu import CpuMeter
from bench.harness import ROOT, Process, Servers, percentile, start
from bench.peers.protocol import Launch, Peer, Queue, marker_url
from local_servers import create_database, wait_until

# Between two jobs one at a time, so that each finds the workers idle.
PAUSE = 0.02


@dataclass(frozen=True)
class Figures:
    system: str
    setup: str
    keeps_record: bool
    # No-op jobs done a second, from the workers' readiness to the last.
    per_second: float
    # One enqueue call in the enqueuing process: its time (p50) and its CPU (mean).
    enqueue_us: float
    enqueue_cpu_us: float
    # From the enqueue call to the job's body having run (its marker popped), one at a time.
    latency_p50_ms: float
    latency_p99_ms: float
    # Every process, per 1,000 jobs: the enqueuing one, the workers' sessions, PostgreSQL
    # and Redis, while enqueuing and while draining.
    cpu_per_1000: float

    @property
    def name(self) -> str:
        return f"{self.system}, {self.setup}"

    @classmethod
    def median(cls, runs: list[Figures]) -> Figures:
        """Each figure's median over runs of one peer (a drain no worker was ready to time
        left out)."""
        first = runs[0]
        numbers = {name: _median([getattr(run, name) for run in runs]) for name in NUMBERS}
        return cls(first.system, first.setup, first.keeps_record, **numbers)


NUMBERS = [f.name for f in fields(Figures) if f.type == "float"]


def _median(values: list[float]) -> float:
    kept = [value for value in values if not math.isnan(value)]
    return statistics.median(kept) if kept else math.nan


def measure(peer: Peer, servers: Servers, count: int, samples: int) -> Figures:
    with peer.open(servers) as queue:
        calls, enqueue_cpu = _enqueue(queue, count, servers)
        logs = servers.scratch / _slug(f"{peer.system}-{peer.setup}")
        with _workers(queue.workers(), logs) as sessions:
            per_second, drain_cpu = _drain(queue, [*sessions, *servers.session_ids()])
            latencies = _one_at_a_time(queue, marker_url(servers), samples)
    return Figures(
        peer.system,
        peer.setup,
        peer.keeps_record,
        per_second,
        percentile(calls, 0.5) * 1e6,
        enqueue_cpu.own / count * 1e6,
        percentile(latencies, 0.5) * 1e3,
        percentile(latencies, 0.99) * 1e3,
        (enqueue_cpu.total / count + drain_cpu) * 1000,
    )


@dataclass(frozen=True)
class _Cpu:
    own: float
    servers: float

    @property
    def total(self) -> float:
        return self.own + self.servers


def _enqueue(queue: Queue, count: int, servers: Servers) -> tuple[list[float], _Cpu]:
    """Each enqueue call's time, and the CPU they took here and in the servers. A first call,
    not counted, opens connections and finishes setting the client up, as a user's process
    does once; its job is drained with the others."""
    queue.enqueue()
    meter = CpuMeter(*servers.session_ids())
    meter.start()
    own = time.process_time()
    calls = []
    for _ in range(count):
        started = time.perf_counter()
        queue.enqueue()
        calls.append(time.perf_counter() - started)
    own = time.process_time() - own
    return calls, _Cpu(own, meter.stop())


@contextmanager
def _workers(launches: list[Launch], logs: Path) -> Iterator[list[int]]:
    """The workers started, each leading a session of its own, once every one is ready."""
    started: list[tuple[Launch, Process]] = []
    try:
        for number, launch in enumerate(launches):
            log = logs.with_name(f"{logs.name}-{number}.log")
            environment = {"PYTHONPATH": str(ROOT), **launch.environment}
            started.append((launch, start(launch.command, environment, log)))
        wait_until(lambda: all(_ready(*each) for each in started), 60, f"{logs.name}", 0.01)
        yield [process.pid for _, process in started]
    finally:
        for _, process in started:
            process.stop()


def _ready(launch: Launch, process: Process) -> bool:
    log = process.log.read_text(errors="replace")
    if process.popen.poll() is not None:
        raise RuntimeError(f"{launch.command[:4]} exited: {log[-2000:]}")
    return log.count(launch.ready) >= launch.ready_count


def _drain(queue: Queue, sessions: list[int]) -> tuple[float, float]:
    """Jobs a second from now (every worker ready) until none is left, and the CPU seconds
    per job of these sessions meanwhile. Jobs done before now count for neither."""
    meter = CpuMeter(*sessions)
    meter.start()
    started = time.perf_counter()
    jobs = queue.remaining()
    wait_until(lambda: queue.remaining() <= 0, 600, "the workers to drain", 0.05)
    seconds = time.perf_counter() - started
    cpu = meter.stop()
    if jobs <= 0:  # a quick run's workers that drained it while the last one started
        return float("nan"), float("nan")
    return jobs / seconds, cpu / jobs


def _one_at_a_time(queue: Queue, url: str, samples: int) -> list[float]:
    """Seconds from each enqueue call to its job's marker, popped from Redis by BLPOP: the
    same signal for every peer, at the same cost (one RPUSH in the job's body)."""
    markers = redis.Redis.from_url(url)
    key = "latency"
    markers.delete(key)
    latencies = []
    for _ in range(samples):
        time.sleep(PAUSE)
        started = time.perf_counter()
        queue.enqueue_marker(key)
        if markers.blpop([key], timeout=30) is None:
            raise TimeoutError("a latency job did not run within 30 s")
        latencies.append(time.perf_counter() - started)
    return latencies


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def own_database(servers: Servers, name: str) -> str:
    """The URL of database `name` on the benchmark's PostgreSQL, created if missing."""
    base = servers.postgres.url.rsplit("/", 1)[0]
    create_database(f"{base}/postgres", name)
    return f"{base}/{name}"


@contextmanager
def postgres(url: str) -> Iterator[Any]:
    """A cursor in autocommit, for the benchmark's own questions."""
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()
