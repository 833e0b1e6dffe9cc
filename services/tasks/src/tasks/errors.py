from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import SQLAlchemyError

from tasks import database


class TransientError(Exception):
    """A failure worth trying again later (a server down, slow or busy).

    A task that raises one is retried with backoff; one that still fails with one after its
    last retry leaves its job dead.
    """


class DependencyUnavailable(TransientError):
    """PostgreSQL or Redis could not be reached, or did not answer in time."""


def as_transient(error: BaseException) -> TransientError | None:
    """The transient failure `error` stands for, if it is one."""
    if isinstance(error, TransientError):
        return error
    if isinstance(error, SQLAlchemyError) and database.is_unavailable(error):
        return DependencyUnavailable(f"PostgreSQL unavailable: {error.__class__.__name__}")
    if isinstance(error, RedisConnectionError | RedisTimeoutError | BrokerError):
        return DependencyUnavailable(f"Redis unavailable: {error}")
    return None
