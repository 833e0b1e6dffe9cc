"""Faults to attack the stack with: a server that hangs (SIGSTOP), for as long as asked, or
dies outright (SIGKILL)."""

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psutil

from local_servers import wait_until


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """A server (process `pid`) and every process it started, stopped with SIGSTOP: its
    kernel still accepts connections and acknowledges packets, but nothing answers.
    (PostgreSQL's backends run in sessions of their own: the process group misses them.)"""
    main = psutil.Process(pid)
    main.suspend()  # first, so that it starts no new process meanwhile
    family = [main]
    for child in main.children(recursive=True):
        with suppress(psutil.NoSuchProcess):  # a backend that was just ending
            child.suspend()
            family.append(child)
    try:
        yield
    finally:
        for process in family:
            with suppress(psutil.NoSuchProcess):
                process.resume()


def lasting(seconds: float) -> None:
    """Keep a fault in place this long. The duration is what is under test (say, longer than
    a lock's timeout), not a stand-in for waiting on something to happen."""
    until = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() >= until, seconds + 5, f"{seconds:g}s to pass")


def killed(pid: int) -> None:
    """SIGKILL a server (process `pid`) and every process it started, and wait until all are
    gone (a PostgreSQL restarted over a backend of its last life refuses to start)."""
    main = psutil.Process(pid)
    family = [main, *main.children(recursive=True)]
    for process in family:
        with suppress(psutil.NoSuchProcess):
            process.kill()
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"still alive after SIGKILL: {alive}"
