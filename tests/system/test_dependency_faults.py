"""The promises under a hung or dead Redis or PostgreSQL, against the real processes:
no request waits on a dependency more than about a second (the answer is a JSON 503 with
Retry-After), and no process dies: each carries on by itself once the server is back."""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests
from flask_migrate import upgrade

from local_servers import Server, free_port, start_postgres, start_redis, wait_until
from tasks import very_slow_add
from tasks.extensions import db
from tasks.jobs import publish_job, start_job
from tasks.models import Job
from tasks.settings import Settings
from tests import processes
from tests.auth import KeyedHttp, keyed_session
from tests.faults import killed, lasting, paused
from tests.outside_jobs import take_steps
from tests.settings import PROMISED_DEADLINES, settings_for
from tests.web_server import web_server
from web import create_app

pytestmark = pytest.mark.system

# A client gives up after this: far beyond the ~1 s a request may wait on a dependency,
# far below the minutes a hung dependency used to cost.
CLIENT_TIMEOUT = 5
LOCK_TIMEOUT = 3
WORKER_SETTINGS = {
    "DATABASE_TIMEOUT": "2",
    "REDIS_TIMEOUT": "1",
    "RETRY_BACKOFF": "1",
    "RETRY_BACKOFF_MAX": "2",
    "RETRY_MAX_ATTEMPTS": "20",
    "BEAT_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
    "BEAT_REQUEUE_INTERVAL": "1",
    "CELERY_IMPORTS": "tests.outside_jobs",
}


@dataclass
class Stack:
    postgres: Server
    redis: Server
    api: str
    settings: Settings
    worker: psutil.Process
    beat: psutil.Process
    logs: Path
    # Sends a key of every scope.
    http: KeyedHttp

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """Its own PostgreSQL and Redis (the session's are shared and must not be paused), the
    web process, a worker and beat, each started by its own start script."""
    scratch = tmp_path_factory.mktemp("faults")
    # Durable, as in production: a server killed outright keeps what it committed.
    postgres = start_postgres(scratch, free_port(), "faults", durable=True)
    redis = start_redis(scratch, free_port(), durable=False)
    settings = settings_for(postgres.url, redis.url, **PROMISED_DEADLINES)
    app = create_app(settings)
    with app.app_context():
        upgrade()
    http = keyed_session(app)
    env = processes.service_environment(postgres.url, redis.url, **WORKER_SETTINGS)
    beat = processes.start(
        [str(processes.SERVICES / "worker" / "beat")], env, scratch, scratch / "beat.log"
    )
    worker, _ = processes.start_worker(
        postgres.url, redis.url, scratch, "worker", **WORKER_SETTINGS
    )
    try:
        with web_server(
            postgres.url, redis.url, scratch, WEB_CONCURRENCY="2", **PROMISED_DEADLINES
        ) as web:
            yield Stack(
                postgres,
                redis,
                web.url,
                settings,
                psutil.Process(worker.pid),
                psutil.Process(beat.pid),
                scratch,
                http,
            )
    finally:
        processes.stop(worker)
        processes.stop(beat)
        redis.stop()
        postgres.stop()


def post_slow_add(stack: Stack) -> requests.Response:
    return stack.http.post(
        f"{stack.api}/jobs/slow-add", json={"a": 2, "b": 3}, timeout=CLIENT_TIMEOUT
    )


def finished(stack: Stack, location: str) -> dict:
    def done() -> dict | None:
        body = stack.http.get(f"{stack.api}{location}", timeout=CLIENT_TIMEOUT).json()
        return body if body.get("state") in {"succeeded", "failed", "dead"} else None

    return wait_until(done, 60, f"{location} to finish", interval=0.2)


def assert_unavailable(response: requests.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == code
    assert int(response.headers["Retry-After"]) > 0


def job_count(stack: Stack) -> int:
    with create_app(stack.settings).app_context():
        return db.session.query(Job).count()


def a_failed_job(stack: Stack) -> uuid.UUID:
    with create_app(stack.settings).app_context():
        job = Job(kind=very_slow_add.name, arguments={"a": 1, "b": 1}, state="failed", error="x")
        db.session.add(job)
        db.session.commit()
        return job.id


def test_a_hung_redis_costs_requests_a_503_not_a_hang_and_the_api_stays_up(stack):
    failed = a_failed_job(stack)
    before = job_count(stack)
    with paused(stack.redis.process.pid), ThreadPoolExecutor(12) as pool:
        retried = pool.submit(
            stack.http.post, f"{stack.api}/jobs/{failed}/retry", timeout=CLIENT_TIMEOUT
        )
        # More requests at once than the web process has threads: none may hold one for long.
        posts = [pool.submit(post_slow_add, stack) for _ in range(12)]
        assert stack.http.get(f"{stack.api}/healthz", timeout=CLIENT_TIMEOUT).status_code == 200
        ready = stack.http.get(f"{stack.api}/readyz", timeout=CLIENT_TIMEOUT)
        assert ready.status_code == 503
        assert ready.json()["checks"]["redis"] != "ok"
        for post in posts:
            assert_unavailable(post.result(), "broker_unavailable")
        assert_unavailable(retried.result(), "broker_unavailable")
    assert job_count(stack) == before, "a refused job left a row behind"
    job = stack.http.get(f"{stack.api}/jobs/{failed}", timeout=CLIENT_TIMEOUT).json()
    assert (job["state"], job["error"]) == ("failed", "x"), "a refused retry changed the job"
    location = post_slow_add(stack).headers["Location"]
    assert finished(stack, location)["result"] == 5


def test_a_hung_postgres_costs_requests_a_503_not_a_hang(stack):
    some_job = f"{stack.api}/jobs/{uuid.uuid4()}"
    with paused(stack.postgres.process.pid), ThreadPoolExecutor(12) as pool:
        reads = [
            pool.submit(stack.http.get, f"{stack.api}/products", timeout=CLIENT_TIMEOUT)
            for _ in range(6)
        ]
        writes = [
            pool.submit(
                stack.http.post,
                f"{stack.api}/products",
                json={"sku": f"H-{n}", "name": "Hung", "price": "1.00"},
                timeout=CLIENT_TIMEOUT,
            )
            for n in range(6)
        ]
        assert stack.http.get(f"{stack.api}/healthz", timeout=CLIENT_TIMEOUT).status_code == 200
        assert_unavailable(stack.http.get(some_job, timeout=CLIENT_TIMEOUT), "database_unavailable")
        ready = stack.http.get(f"{stack.api}/readyz", timeout=CLIENT_TIMEOUT)
        assert (ready.status_code, ready.json()["checks"]["redis"]) == (503, "ok")
        for response in [*reads, *writes]:
            assert_unavailable(response.result(), "database_unavailable")
    wait_until(
        lambda: stack.http.get(f"{stack.api}/products", timeout=CLIENT_TIMEOUT).ok,
        30,
        "the API to reach PostgreSQL again",
    )
    assert stack.http.get(f"{stack.api}/products", timeout=CLIENT_TIMEOUT).json()["total"] == 0


def test_worker_and_beat_ride_out_redis_hung_past_the_beat_lock(stack):
    beat_sent = stack.log("beat").count("Sending due task")
    with paused(stack.redis.process.pid):
        lasting(LOCK_TIMEOUT + 2)
    assert stack.worker.is_running() and stack.beat.is_running()
    wait_until(
        lambda: stack.log("beat").count("Sending due task") > beat_sent,
        30,
        "beat to send again",
    )
    location = post_slow_add(stack).headers["Location"]
    assert finished(stack, location)["result"] == 5
    assert stack.worker.is_running() and stack.beat.is_running()


def test_a_worker_rides_out_a_hung_postgres_and_finishes_the_job(stack):
    """The job's message arrives while PostgreSQL hangs: the worker cannot claim it, retries
    with backoff instead of failing or hanging, and runs it once PostgreSQL is back."""
    app = create_app(stack.settings)
    fields = {"id": uuid.uuid4(), "kind": very_slow_add.name, "arguments": {"a": 20, "b": 22}}
    with app.app_context():
        db.session.add(Job(**fields))
        db.session.commit()
        job = Job(**fields)  # what publishing needs, without asking PostgreSQL
        with paused(stack.postgres.process.pid):
            publish_job(job)
            wait_until(
                lambda: "PostgreSQL unavailable" in stack.log("worker"),
                30,
                "the worker to find PostgreSQL unavailable",
            )
    done = finished(stack, f"/jobs/{job.id}")
    assert (done["state"], done["result"]) == ("succeeded", 42)
    assert stack.worker.is_running()


def test_a_dead_redis_is_a_quick_503_and_everything_recovers_when_it_is_back(stack):
    port = stack.redis.url.rsplit(":", 1)[1].split("/")[0]
    stack.redis.stop()
    try:
        assert_unavailable(post_slow_add(stack), "broker_unavailable")
        assert stack.http.get(f"{stack.api}/readyz", timeout=CLIENT_TIMEOUT).status_code == 503
    finally:
        stack.redis = start_redis(stack.logs, int(port), durable=False)
    location = post_slow_add(stack).headers["Location"]
    assert finished(stack, location)["result"] == 5
    assert stack.worker.is_running() and stack.beat.is_running()


def test_a_job_whose_work_is_done_is_recorded_succeeded_though_postgres_dies_as_it_returns(
    stack, tmp_path
):
    """PostgreSQL is killed outright at the last moment of a job's body, and restarts: the
    job's `succeeded` entry is tried again until it lands, so the job ends succeeded, its work
    done once (not left running, to be published again and done twice)."""
    gate = tmp_path / "return"
    with create_app(stack.settings).app_context():
        job, _ = start_job(take_steps, {"steps": 1, "after": str(gate)})
    reached = Path(f"{gate}.reached")
    wait_until(reached.exists, 30, "the body to reach its last moment", interval=0.02)
    port = int(stack.postgres.url.rsplit(":", 1)[1].split("/")[0])
    killed(stack.postgres.process.pid)
    stack.postgres.stop()
    again = f"could not record job {job.id}'s end yet (PostgreSQL unavailable"
    gate.touch()
    wait_until(
        lambda: again in stack.log("worker"),
        30,
        "the worker to find PostgreSQL gone and try the entry again",
    )
    stack.postgres = start_postgres(stack.logs, port, "faults", durable=True)
    done = finished(stack, f"/jobs/{job.id}")
    assert (done["state"], done["attempts"], done["result"]) == (
        "succeeded",
        1,
        {"steps": 1, "delivery": 1},
    )
    assert reached.read_text().split() == ["1"], "the work ran more than once"
