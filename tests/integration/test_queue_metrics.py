"""The queue and job metrics' collector (tasks/observability/queue_metrics.py) on real Redis and
PostgreSQL: every priority's list of a queue counts, and a server that does not answer is a
gauge at 0 within the collector's timeouts, never an error."""

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from kombu.transport.redis import PRIORITY_STEPS
from prometheus_client import CollectorRegistry, generate_latest

from local_servers import create_database
from tasks.observability.queue_metrics import UNACKED_KEY, QueueMetrics, queue_names, redis_lists
from tests.integration.helpers import redis_db
from tests.metrics_text import total

pytestmark = pytest.mark.integration

REDIS_DB = 14


def scrape(collector: QueueMetrics) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


@pytest.fixture
def broker(migrated) -> Iterator[tuple[str, redis.Redis]]:
    url = redis_db(migrated, REDIS_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections (the kernel's backlog) and never answers: a hung server."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        yield server.getsockname()[1]


def test_the_stacks_queues_are_the_default_one_and_the_routed_ones(app):
    assert queue_names(app.extensions["celery"]) == ["celery", "io"]


def test_messages_of_every_priority_and_unacknowledged_ones_are_counted(app, migrated, broker):
    url, client = broker
    for name, count in zip(redis_lists("celery", PRIORITY_STEPS), (2, 1, 1, 3), strict=True):
        client.lpush(name, *[b"message"] * count)
    client.lpush("io", b"message")
    client.hset(UNACKED_KEY, mapping={"tag-1": b"message", "tag-2": b"message"})

    text = scrape(QueueMetrics(url, migrated.database_url, ["celery", "io"]))

    assert total(text, "celery_queue_length", queue="celery") == 7
    assert total(text, "celery_queue_length", queue="io") == 1
    assert total(text, "celery_unacked_messages") == 2
    assert total(text, "products_metrics_collector_up", source="redis") == 1
    assert total(text, "products_metrics_collector_up", source="postgres") == 1


def test_servers_that_refuse_are_gauges_at_0(servers, migrated):
    """PostgreSQL without the jobs table (before the migrations ran), a Redis database that
    does not exist: errors of another kind than a connection's."""
    unmigrated = urlunsplit(urlsplit(migrated.database_url)._replace(path="/unmigrated"))
    create_database(servers.database_url, "unmigrated")
    no_such_db = migrated.broker_url.rsplit("/", 1)[0] + "/99"
    text = scrape(QueueMetrics(no_such_db, unmigrated, ["celery"]))
    assert total(text, "products_metrics_collector_up", source="redis") == 0
    assert total(text, "products_metrics_collector_up", source="postgres") == 0


def test_servers_that_do_not_answer_are_gauges_at_0(silent_port):
    collector = QueueMetrics(
        f"redis://127.0.0.1:{silent_port}/0",
        f"postgresql://nobody@127.0.0.1:{silent_port}/none",
        ["celery"],
    )
    text = scrape(collector)
    assert total(text, "products_metrics_collector_up", source="redis") == 0
    assert total(text, "products_metrics_collector_up", source="postgres") == 0
    assert "celery_queue_length{" not in text and "products_jobs{" not in text
