import pytest
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError

from tasks.errors import describe

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (ValueError("bad price"), "ValueError: bad price"),
        (
            OperationalError(
                "SELECT 1", {}, Exception("connection refused\n\tIs the server running?")
            ),
            "PostgreSQL unavailable: OperationalError: (builtins.Exception) connection refused",
        ),
        (
            RedisConnectionError("Error 111 connecting to 127.0.0.1:6379."),
            "Redis unavailable: ConnectionError: Error 111 connecting to 127.0.0.1:6379.",
        ),
        (BrokerError("timed out"), "Redis unavailable: OperationalError: timed out"),
    ],
    ids=["plain", "postgres-first-line", "redis", "broker"],
)
def test_an_error_is_described_in_one_line_naming_what_was_unavailable(error, described):
    assert describe(error) == described
