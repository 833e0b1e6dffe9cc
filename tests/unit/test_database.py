import time

import psycopg2
import pytest
from psycopg2 import extensions

from tasks import database

pytestmark = pytest.mark.unit


def caller_deadline() -> float | None:
    return database._caller_deadline.get()


@pytest.mark.parametrize(
    ("timeout", "milliseconds", "pool_timeout", "connect_timeout"),
    [(1.5, 1500, 1.5, 2), (30, 30000, 30, 30)],
)
def test_server_side_timeouts_match_the_clients_deadline(
    timeout, milliseconds, pool_timeout, connect_timeout
):
    options = database.engine_options(timeout, "unit")
    connect = options["connect_args"]
    assert connect["options"].split() == [
        "-c",
        f"statement_timeout={milliseconds}",
        "-c",
        f"lock_timeout={milliseconds}",
        "-c",
        "idle_in_transaction_session_timeout=60000",
    ]
    assert options["pool_timeout"] == pool_timeout
    assert connect["connect_timeout"] == connect_timeout
    assert connect["connection_factory"].wait_timeout == timeout
    assert connect["application_name"] == "unit"


def test_without_a_timeout_only_idle_transactions_are_bounded():
    options = database.engine_options(0, "unit")
    connect = options["connect_args"]
    assert connect["options"] == "-c idle_in_transaction_session_timeout=60000"
    assert connect["connection_factory"].wait_timeout is None
    assert (options["pool_timeout"], connect["connect_timeout"]) == (30, 10)


def test_each_wait_timeout_has_one_connection_class_of_its_own():
    two = database.connection_class(2.0)
    assert database.connection_class(2.0) is two
    assert database.connection_class(3.0) is not two
    assert issubclass(two, extensions.connection)
    assert (two.wait_timeout, database.connection_class(3.0).wait_timeout) == (2.0, 3.0)


def test_a_callers_deadline_holds_until_it_ends_and_nests():
    assert caller_deadline() is None
    outer = database.start_deadline(10)
    try:
        assert 9 < caller_deadline() - time.monotonic() <= 10
        inner = database.start_deadline(0)
        assert caller_deadline() is None, "0: no deadline"
        database.end_deadline(inner)
        assert 9 < caller_deadline() - time.monotonic() <= 10
    finally:
        database.end_deadline(outer)
    assert caller_deadline() is None


def test_a_renewed_deadline_gives_a_clean_up_about_a_second_and_then_ends():
    token = database._caller_deadline.set(time.monotonic() - 5)
    try:
        with database.renewed_deadline():
            left = caller_deadline() - time.monotonic()
            assert 0 < left <= database.RENEWED_DEADLINE
        assert caller_deadline() - time.monotonic() < -4
    finally:
        database.end_deadline(token)


def test_a_renewed_deadline_never_shortens_the_callers():
    token = database.start_deadline(10)
    try:
        before = caller_deadline()
        with database.renewed_deadline():
            assert caller_deadline() == before
    finally:
        database.end_deadline(token)
    with database.renewed_deadline():
        assert caller_deadline() is None, "no deadline is renewed into one"


class Polled:
    """A connection whose poll() answers as told, in turn."""

    def __init__(self, *states: int, wait_timeout: float | None = None) -> None:
        self.states = list(states)
        self.wait_timeout = wait_timeout

    def poll(self) -> int:
        return self.states.pop(0)

    def fileno(self) -> int:
        raise AssertionError("waited on the socket")


def test_a_wait_past_the_callers_deadline_fails_at_once():
    token = database._caller_deadline.set(time.monotonic() - 1)
    try:
        with pytest.raises(database.DatabaseTimeout, match="did not answer within"):
            database._wait(Polled(extensions.POLL_READ, wait_timeout=30))
    finally:
        database.end_deadline(token)


def test_a_wait_ends_when_the_connection_is_ready_and_refuses_an_unknown_state():
    database._wait(Polled(extensions.POLL_OK))
    with pytest.raises(psycopg2.OperationalError, match="unexpected poll state"):
        database._wait(Polled(extensions.POLL_ERROR))
