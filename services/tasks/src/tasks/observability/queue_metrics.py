"""What waits and what is stuck, as Prometheus metrics: the length of each Celery queue and
the messages handed out but not yet acknowledged (Redis), and the jobs by kind and state,
the oldest queued and running ones and their redeliveries (the job ledger, PostgreSQL).

Collected when scraped, by Flower's process (services/flower/flowerconfig.py registers
the collector with prometheus-client's default registry, which Flower serves at /metrics
behind its basic auth): one process per deployment, so the ledger is asked once a scrape.
Each dependency gets DEPENDENCY_TIMEOUT in all. One that does not answer in time gives
`products_metrics_collector_up{source=...} 0` and no metrics of its own: never a failed
scrape, never a stuck Flower.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from tasks import database
from tasks.models import Job, JobState
from tasks.settings import current_settings, normalize_database_url

log = logging.getLogger(__name__)

# Seconds each dependency may take per scrape, in all (Prometheus's own scrape timeout
# is 10 s by default; Flower's event loop waits while this runs).
DEPENDENCY_TIMEOUT = 1.0
STATES = tuple(JobState)
# Where kombu's Redis transport keeps the messages delivered and not yet acknowledged.
UNACKED_KEY = Channel.unacked_key


def queue_names(celery_app: Celery) -> list[str]:
    """Every queue the stack's tasks go to: the default one and those of the routes."""
    conf = celery_app.conf
    routed = {route["queue"] for route in (conf.task_routes or {}).values() if "queue" in route}
    return sorted({conf.task_default_queue, *routed})


def redis_lists(queue: str, priority_steps: Sequence[int]) -> list[str]:
    """The Redis lists of a queue: kombu puts a message of priority p into the list of the
    step it falls in, `<queue>\\x06\\x16<step>` (step 0: the queue's own name)."""
    return [f"{queue}{Channel.sep}{step}" if step else queue for step in priority_steps]


@dataclass(frozen=True)
class Ledger:
    """What the ledger holds of each kind of job."""

    jobs: dict[tuple[str, str], int]
    redeliveries: dict[str, int]
    oldest_queued: dict[str, float]
    oldest_running: dict[str, float]

    @property
    def kinds(self) -> list[str]:
        return sorted({kind for kind, _ in self.jobs})


# Per kind and state: how many, their deliveries beyond the first, and the age of the
# oldest, as PostgreSQL's clock has it: a queued job since it was (re)queued (beat's test
# for a lost message, too), a running one since its delivery claimed it.
LEDGER_QUERY = select(
    Job.kind,
    Job.state,
    func.count(),
    func.coalesce(func.sum(func.greatest(Job.deliveries - 1, 0)), 0),
    func.extract("epoch", func.now() - func.min(Job.updated_at)),
    func.extract("epoch", func.now() - func.min(Job.claimed_at)),
).group_by(Job.kind, Job.state)


class QueueMetrics(Collector):
    def __init__(
        self,
        broker_url: str,
        database_url: str,
        queues: Iterable[str],
        priority_steps: Sequence[int] = PRIORITY_STEPS,
    ) -> None:
        self.broker = redis.Redis.from_url(
            broker_url,
            socket_timeout=DEPENDENCY_TIMEOUT,
            socket_connect_timeout=DEPENDENCY_TIMEOUT,
            # redis-py retries 3 times by default: a hung Redis would cost 4 timeouts.
            retry=Retry(NoBackoff(), 0),
        )
        self.queues = {queue: redis_lists(queue, priority_steps) for queue in sorted(queues)}
        # The deadline on every wait for PostgreSQL is psycopg2's wait callback, per process.
        database.install()
        self.engine = create_engine(
            normalize_database_url(database_url),
            pool_size=1,
            **database.engine_options(DEPENDENCY_TIMEOUT, "queue-metrics"),
        )

    def describe(self) -> list[Metric]:
        # The names alone: registering the collector asks neither Redis nor PostgreSQL.
        return [*self._queue_families({}, 0), *self._ledger_families(None), self._up({})]

    def collect(self) -> list[Metric]:
        up: dict[str, bool] = {}
        lengths: dict[str, int] = {}
        unacked = 0
        try:
            lengths, unacked = self._read_redis()
            up["redis"] = True
        except redis.RedisError as error:  # down, hung, or refusing (a password, a lost DB)
            log.warning("queue metrics: Redis did not answer: %s", error)
            up["redis"] = False
        ledger = None
        try:
            ledger = self._read_ledger()
            up["postgres"] = True
        except SQLAlchemyError as error:  # down, hung, or refusing (no table yet, no right)
            log.warning("job metrics: PostgreSQL did not answer: %s", str(error).splitlines()[0])
            up["postgres"] = False
        families = [self._up(up)]
        if up["redis"]:
            families += self._queue_families(lengths, unacked)
        if ledger is not None:
            families += self._ledger_families(ledger)
        return families

    def _read_redis(self) -> tuple[dict[str, int], int]:
        with self.broker.pipeline(transaction=False) as pipe:
            for lists in self.queues.values():
                for name in lists:
                    pipe.llen(name)
            pipe.hlen(UNACKED_KEY)
            *lengths, unacked = pipe.execute()
        by_queue, position = {}, 0
        for queue, lists in self.queues.items():
            by_queue[queue] = sum(lengths[position : position + len(lists)])
            position += len(lists)
        return by_queue, unacked

    def _read_ledger(self) -> Ledger:
        token = database.start_deadline(DEPENDENCY_TIMEOUT)
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(LEDGER_QUERY).all()
        finally:
            database.end_deadline(token)
        jobs: dict[tuple[str, str], int] = {}
        redeliveries: dict[str, int] = {}
        oldest_queued: dict[str, float] = {}
        oldest_running: dict[str, float] = {}
        for kind, state, count, redelivered, since_update, since_claim in rows:
            jobs[kind, state] = count
            redeliveries[kind] = redeliveries.get(kind, 0) + int(redelivered)
            if state == JobState.QUEUED and since_update is not None:
                oldest_queued[kind] = float(since_update)
            if state == JobState.RUNNING and since_claim is not None:
                oldest_running[kind] = float(since_claim)
        return Ledger(jobs, redeliveries, oldest_queued, oldest_running)

    def _queue_families(self, lengths: dict[str, int], unacked: int) -> list[Metric]:
        length = GaugeMetricFamily(
            "celery_queue_length",
            "Messages waiting in each Celery queue (every priority's list of it)",
            labels=["queue"],
        )
        for queue, value in lengths.items():
            length.add_metric([queue], value)
        waiting = GaugeMetricFamily(
            "celery_unacked_messages",
            "Messages delivered to workers and not yet acknowledged (kombu's unacked hash)",
        )
        if lengths:
            waiting.add_metric([], unacked)
        return [length, waiting]

    def _ledger_families(self, ledger: Ledger | None) -> list[Metric]:
        jobs = GaugeMetricFamily(
            "products_jobs", "Jobs in the ledger, by kind and state", labels=["kind", "state"]
        )
        queued = GaugeMetricFamily(
            "products_job_oldest_queued_age_seconds",
            "Seconds the longest-waiting queued job of each kind has waited (0: none queued)",
            labels=["kind"],
        )
        running = GaugeMetricFamily(
            "products_job_oldest_running_age_seconds",
            "Seconds the longest-running delivery of each kind has run (0: none running)",
            labels=["kind"],
        )
        redeliveries = GaugeMetricFamily(
            "products_job_redeliveries",
            "Deliveries beyond each job's first, summed over the jobs of each kind in the ledger",
            labels=["kind"],
        )
        for kind in ledger.kinds if ledger else ():
            for state in STATES:
                jobs.add_metric([kind, state], ledger.jobs.get((kind, state), 0))
            queued.add_metric([kind], ledger.oldest_queued.get(kind, 0.0))
            running.add_metric([kind], ledger.oldest_running.get(kind, 0.0))
            redeliveries.add_metric([kind], ledger.redeliveries.get(kind, 0))
        return [jobs, queued, running, redeliveries]

    @staticmethod
    def _up(up: dict[str, bool]) -> Metric:
        family = GaugeMetricFamily(
            "products_metrics_collector_up",
            "Whether the queue and job metrics could be read from each source (1) or not (0)",
            labels=["source"],
        )
        for source, answered in sorted(up.items()):
            family.add_metric([source], 1 if answered else 0)
        return family


_registered: dict[int, QueueMetrics] = {}


def register(celery_app: Celery, registry: CollectorRegistry = REGISTRY) -> QueueMetrics:
    """The queue and job metrics of `celery_app`'s stack, in `registry` (once: Flower may
    read its configuration file more than once)."""
    if id(registry) in _registered:
        return _registered[id(registry)]
    options: dict[str, Any] = celery_app.conf.broker_transport_options or {}
    collector = QueueMetrics(
        celery_app.conf.broker_url,
        current_settings(celery_app.flask_app).database_url,
        queue_names(celery_app),
        options.get("priority_steps", PRIORITY_STEPS),
    )
    registry.register(collector)
    _registered[id(registry)] = collector
    return collector
