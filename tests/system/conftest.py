"""Fixtures shared by system tests that drive their own worker and Flower on a Redis
database of their own: each such module names it as REDIS_DB."""

from collections.abc import Iterator

import pytest
import redis

from tests.flower_server import FlowerServer, flower_server
from tests.integration.helpers import redis_db


@pytest.fixture(scope="module")
def redis_url(migrated, request: pytest.FixtureRequest) -> Iterator[str]:
    """The module's Redis database (its REDIS_DB), empty before and after the module."""
    url = redis_db(migrated, request.module.REDIS_DB)
    redis.Redis.from_url(url).flushdb()
    yield url
    redis.Redis.from_url(url).flushdb()


@pytest.fixture(scope="module")
def flower(servers, redis_url, tmp_path_factory) -> Iterator[FlowerServer]:
    with flower_server(servers.database_url, redis_url, tmp_path_factory.mktemp("flower")) as f:
        yield f
