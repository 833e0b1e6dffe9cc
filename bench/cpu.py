"""CPU time spent by whole sessions of processes (a worker and its pool, PostgreSQL and its
backends, Redis): steadier on shared cores than a rate, and it counts every process a job
costs, not only the one a stopwatch watches."""

import os
from collections.abc import Iterable

import psutil


def session_cpu_seconds(session_ids: Iterable[int]) -> float:
    """User and system seconds of every process in these sessions so far, and of their
    descendants, with the children they have already reaped (a PostgreSQL backend that served
    one connection and left). Descendants count wherever they are: PostgreSQL's backends
    each lead a session of their own (postmaster children call setsid())."""
    wanted = set(session_ids)
    members: dict[int, psutil.Process] = {}
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) in wanted:
                members[process.pid] = process
                members.update((child.pid, child) for child in process.children(recursive=True))
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    total = 0.0
    for process in members.values():
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


class CpuMeter:
    """CPU seconds of some sessions between start() and stop(), for processes that live
    through both: a process that exits unreaped in between is not counted."""

    def __init__(self, *session_ids: int) -> None:
        self.session_ids = session_ids
        self._started = 0.0
        self.seconds = 0.0

    def start(self) -> None:
        self._started = session_cpu_seconds(self.session_ids)

    def stop(self) -> float:
        self.seconds = session_cpu_seconds(self.session_ids) - self._started
        return self.seconds
