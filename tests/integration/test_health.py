import socket
from collections.abc import Iterator

import pytest

from local_servers import free_port
from tests.settings import PROMISED_DEADLINES, settings_for
from web import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word: a hung server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def readiness(database_url: str, redis_url: str) -> tuple[int, dict]:
    settings = settings_for(database_url, redis_url, **PROMISED_DEADLINES)
    response = create_app(settings).test_client().get("/readyz")
    return response.status_code, response.get_json()


def test_healthz_needs_nothing_but_the_process(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_ready_when_postgres_and_redis_answer(servers):
    status, body = readiness(servers.database_url, servers.redis_url)
    assert (status, body) == (200, {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}})


def test_redis_down_is_named(servers):
    status, body = readiness(servers.database_url, f"redis://127.0.0.1:{free_port()}/0")
    assert status == 503
    assert body["checks"]["postgres"] == "ok"
    assert "ConnectionError" in body["checks"]["redis"]


def test_postgres_down_is_named(servers):
    status, body = readiness(f"postgresql://nobody@127.0.0.1:{free_port()}/x", servers.redis_url)
    assert status == 503
    assert body["checks"]["redis"] == "ok"
    assert "OperationalError" in body["checks"]["postgres"]


def test_hung_servers_are_reported_instead_of_hanging_the_probe(silent_server):
    status, body = readiness(
        f"postgresql://nobody@127.0.0.1:{silent_server}/x", f"redis://127.0.0.1:{silent_server}/0"
    )
    assert status == 503
    assert body["checks"]["postgres"].startswith("timed out")
    assert body["checks"]["redis"] != "ok"
