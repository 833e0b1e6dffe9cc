"""What can go wrong, as the library says it.

An AppError carries the HTTP status and code the API answers it with (web's one error
handler), so a function deep in the library says *what* failed and the edge needs no table.
DEPENDENCY_ERRORS are the failures of PostgreSQL and Redis that pass: tasks retry on them
(`autoretry_for`), and the API answers them 503.
"""

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# PostgreSQL could not be reached or did not answer in time (tasks/database.py sets the
# deadlines); the pool had no connection to give.
DATABASE_ERRORS = (OperationalError, InterfaceError, PoolTimeout)
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, BrokerError)
DEPENDENCY_ERRORS = (*DATABASE_ERRORS, *REDIS_ERRORS)


class AppError(Exception):
    """A failure the caller is told of: its message, an HTTP status and a code."""

    status = 500
    code = "internal_server_error"
    # Seconds after which trying again may succeed (a Retry-After header), if it may.
    retry_after: int | None = None


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class Unavailable(AppError):
    status, code, retry_after = 503, "unavailable", 5


class JobNotFound(NotFound):
    """No job has this id."""


class JobConflict(Conflict):
    """The job is not in a state that allows what was asked."""


class BrokerUnavailable(Unavailable):
    """Redis did not take the job; nothing was started."""

    code = "broker_unavailable"


class DatabaseUnavailable(Unavailable):
    code = "database_unavailable"


class TransientError(Exception):
    """A failure worth trying again later (a server down, slow or busy): tasks name the
    ones they retry on in `autoretry_for`."""


def describe(error: BaseException) -> str:
    """`error` in one line for a job's record: what was unavailable, when that is what it was."""
    text = f"{type(error).__name__}: {error}".strip().removesuffix(":")
    if isinstance(error, DATABASE_ERRORS):
        return f"PostgreSQL unavailable: {text.splitlines()[0]}"
    if isinstance(error, REDIS_ERRORS):
        return f"Redis unavailable: {text}"
    return text
