"""What each peer's module gives the measuring (bench/peers/measure.py), and the body of the
latency job every peer runs. A peer's worker imports its module, so this module imports
nothing heavier than redis-py: a forking worker (RQ's) forks what its parent imported.

A peer is one module under bench/peers/ with a class that follows `Peer`, listed in
bench/peers/compare.py."""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import redis

if TYPE_CHECKING:
    from bench.harness import Servers

# The Redis database of the latency markers, the same for every peer.
MARKER_DB = 13


@dataclass(frozen=True)
class Launch:
    """One worker process to start: its command, its environment, and the line its log
    shows `ready_count` times once it takes jobs."""

    command: list[str]
    ready: str
    environment: dict[str, str] = field(default_factory=dict)
    ready_count: int = 1


class Queue(Protocol):
    """A peer's queue, empty when opened, as the enqueuing process sees it."""

    def enqueue(self) -> None:
        """Enqueue one no-op job, as a user's code would."""

    def enqueue_marker(self, key: str) -> None:
        """Enqueue one job whose body is `mark(marker_url, key)`."""

    def remaining(self) -> int:
        """No-op jobs enqueued and not yet done (asked before any marker job)."""

    def workers(self) -> list[Launch]:
        """The worker processes of this set-up."""


class Peer(Protocol):
    """One job queue at one set-up."""

    # The product, e.g. "RQ": the goal rows take each system at its best set-up.
    system: str
    # How it runs here, e.g. "SimpleWorker, 2 processes".
    setup: str
    # Whether it keeps a durable record of each job (its state, in PostgreSQL).
    keeps_record: bool

    def open(self, servers: Servers) -> AbstractContextManager[Queue]:
        """Its queue on these servers, emptied of any earlier run's jobs."""


def marker_url(servers: Servers) -> str:
    return servers.redis_url(MARKER_DB)


@functools.cache
def _marker_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def mark(url: str, key: str) -> None:
    """The latency job's body in every peer: one RPUSH, which the benchmark waits for with
    BLPOP. One connection per process (redis-py opens a new one after a fork)."""
    _marker_client(url).rpush(key, "1")
