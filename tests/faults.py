"""Faults to attack the stack with: a server that hangs (SIGSTOP), for as long as asked."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from devstack.servers import Server, wait_until


@contextmanager
def paused(server: Server) -> Iterator[None]:
    """The server and every process it started, stopped with SIGSTOP: its kernel still
    accepts connections and acknowledges packets, but nothing answers. (PostgreSQL's backends
    run in sessions of their own, so the process group would not reach them.)"""
    main = psutil.Process(server.process.pid)
    family = [main, *main.children(recursive=True)]
    for process in family:
        process.suspend()
    try:
        yield
    finally:
        for process in family:
            if process.is_running():
                process.resume()


def lasting(seconds: float) -> None:
    """Keep a fault in place this long. The duration is what is under test (say, longer than
    a lock's timeout), not a stand-in for waiting on something to happen."""
    until = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() >= until, seconds + 5, f"{seconds:g}s to pass")
