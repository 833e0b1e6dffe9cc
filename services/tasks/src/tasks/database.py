"""Every wait for PostgreSQL has a deadline.

psycopg2 can hand its waiting to a callback ("green" mode); ours waits with a deadline.
Server-side timeouts and TCP keepalives cannot help when PostgreSQL is hung (a paused
process, a stalled disk): its kernel still acknowledges every packet, so without this a
query or a connect waits for ever.
"""

import functools
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

import psycopg2
from psycopg2 import extensions
from sqlalchemy import exc as sa_exc

# A deadline for everything a caller does (say, one API request), on top of each wait's own.
_caller_deadline: ContextVar[float | None] = ContextVar("database_deadline", default=None)

# What a clean-up that must happen gets when its caller's time is up.
RENEWED_DEADLINE = 1.0
_POLL_EVENTS = {extensions.POLL_READ: "read", extensions.POLL_WRITE: "write"}


class DatabaseTimeout(psycopg2.OperationalError):
    """PostgreSQL did not answer in time; the connection is dropped."""


@functools.cache
def connection_class(wait_timeout: float | None) -> type[extensions.connection]:
    """psycopg2's connection, bounding each of its waits to `wait_timeout` seconds (None: no
    bound). The bound travels with the connection, so every engine keeps its own."""
    return type("TimedConnection", (extensions.connection,), {"wait_timeout": wait_timeout or None})


def _wait(connection: Any) -> None:
    started = time.monotonic()
    wait_timeout = getattr(connection, "wait_timeout", None)
    limits = [started + wait_timeout] if wait_timeout else []
    if (caller := _caller_deadline.get()) is not None:
        limits.append(caller)
    deadline = min(limits, default=None)
    while True:
        state = connection.poll()
        if state == extensions.POLL_OK:
            return
        if state not in _POLL_EVENTS:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise DatabaseTimeout(
                f"PostgreSQL did not answer within {time.monotonic() - started:.1f}s"
            )
        _wait_for_socket(connection.fileno(), _POLL_EVENTS[state], left)


def _wait_for_socket(fileno: int, event: str, timeout: float | None) -> None:
    # poll() has no limit on descriptor numbers; under gevent, which removes select.poll,
    # select() is gevent's own and cooperative.
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fileno, select.POLLIN if event == "read" else select.POLLOUT)
        poller.poll(None if timeout is None else max(timeout * 1000, 1))
    else:
        readers, writers = ([fileno], []) if event == "read" else ([], [fileno])
        select.select(readers, writers, [], timeout)


def install() -> None:
    """Wait for PostgreSQL with deadlines in this process (each connection's, and the
    caller's); psycopg2's callback is process-wide."""
    extensions.set_wait_callback(_wait)


def start_deadline(seconds: float | None) -> Token[float | None]:
    """From now on this context waits for PostgreSQL at most `seconds` in all, until
    `end_deadline`: a request that pings, reconnects and queries stays within one bound."""
    return _caller_deadline.set(None if not seconds else time.monotonic() + seconds)


def end_deadline(token: Token[float | None]) -> None:
    _caller_deadline.reset(token)


@contextmanager
def renewed_deadline() -> Iterator[None]:
    """For a clean-up that must happen even when the caller's time is used up (undoing a
    job whose publish failed): about a second more."""
    if (deadline := _caller_deadline.get()) is None:
        yield
        return
    token = _caller_deadline.set(max(deadline, time.monotonic() + RENEWED_DEADLINE))
    try:
        yield
    finally:
        _caller_deadline.reset(token)


@contextmanager
def blocking_waits() -> Iterator[None]:
    """For COPY, which psycopg2 refuses while a wait callback is set. Process-wide: only for
    single-threaded commands such as `flask products seed`."""
    extensions.set_wait_callback(None)
    try:
        yield
    finally:
        extensions.set_wait_callback(_wait)


def engine_options(timeout: float | None, application_name: str) -> dict[str, Any]:
    """SQLAlchemy engine options: server-side timeouts that match the client's deadline."""
    options = []
    if timeout:
        milliseconds = int(timeout * 1000)
        options += [f"statement_timeout={milliseconds}", f"lock_timeout={milliseconds}"]
    # A session left idle in a transaction (a worker stopped mid-task) must not hold locks.
    options.append("idle_in_transaction_session_timeout=60000")
    return {
        "pool_pre_ping": True,
        "pool_timeout": timeout or 30,
        "connect_args": {
            "connection_factory": connection_class(timeout),
            # libpq's own bound on connecting (it rounds anything below 2 s up to 2 s);
            # the wait callback gives the tighter one.
            "connect_timeout": max(int(timeout or 10), 2),
            "application_name": application_name,
            "options": " ".join(f"-c {option}" for option in options),
        },
    }


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` means PostgreSQL cannot be reached or did not answer in time."""
    return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError)
