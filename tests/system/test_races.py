"""Twenty clients racing for the same job, against the real web process: exactly one wins
each change, the others get a 409 (or the same job, for an Idempotency-Key), never a 500."""

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
import requests

from tasks.extensions import db
from tasks.models import Job
from tests.auth import KeyedHttp, keyed_session
from tests.web_server import web_server

pytestmark = pytest.mark.system

CLIENTS = 20


@pytest.fixture(scope="module")
def api(servers, migrated, tmp_path_factory):
    """A web process publishing to a Redis database that no worker consumes."""
    redis_url = migrated.broker_url.rsplit("/", 1)[0] + "/6"
    scratch = tmp_path_factory.mktemp("races")
    with web_server(servers.database_url, redis_url, scratch, WEB_CONCURRENCY="2") as server:
        yield server.url, redis.Redis.from_url(redis_url)


@pytest.fixture
def http(app) -> KeyedHttp:
    return keyed_session(app)


@pytest.fixture
def queue(api, app):
    _, broker = api
    broker.flushdb()
    yield broker
    broker.flushdb()


def race(request: Any) -> list[requests.Response]:
    """`request()` sent by CLIENTS clients at once."""
    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(lambda _: request(), range(CLIENTS)))


def statuses(responses: list[requests.Response]) -> Counter:
    return Counter(response.status_code for response in responses)


def jobs_in(app) -> list[Job]:
    with app.app_context():
        return db.session.query(Job).all()


def a_job(app, state: str) -> uuid.UUID:
    with app.app_context():
        job = Job(kind="tasks.very_slow_add", arguments={"a": 1, "b": 2}, state=state)
        db.session.add(job)
        db.session.commit()
        return job.id


def test_one_idempotency_key_gives_one_job_to_every_client(api, app, queue, http):
    url, _ = api
    responses = race(
        lambda: http.post(
            f"{url}/jobs/slow-add",
            json={"a": 1, "b": 2},
            headers={"Idempotency-Key": "race-1"},
            timeout=10,
        )
    )
    assert statuses(responses) == {202: CLIENTS}, [r.text for r in responses]
    assert len({response.json()["id"] for response in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert len(jobs_in(app)) == 1
    assert queue.llen("celery") == 1


def test_one_idempotency_key_with_different_bodies_is_one_job_and_409s(api, app, queue, http):
    url, _ = api
    bodies = iter(range(CLIENTS))
    responses = race(
        lambda: http.post(
            f"{url}/jobs/slow-add",
            json={"a": next(bodies), "b": 0},
            headers={"Idempotency-Key": "race-2"},
            timeout=10,
        )
    )
    assert statuses(responses) == {202: 1, 409: CLIENTS - 1}, [r.text for r in responses]
    assert len(jobs_in(app)) == 1
    assert queue.llen("celery") == 1


def test_twenty_retries_of_one_failed_job_publish_it_once(api, app, queue, http):
    url, _ = api
    job_id = a_job(app, "failed")
    responses = race(lambda: http.post(f"{url}/jobs/{job_id}/retry", timeout=10))
    assert statuses(responses) == {202: 1, 409: CLIENTS - 1}, [r.text for r in responses]
    assert queue.llen("celery") == 1
    [job] = jobs_in(app)
    assert (job.state, job.attempts) == ("queued", 0)


def test_twenty_cancels_of_one_job_cancel_it_once(api, app, queue, http):
    url, _ = api
    job_id = a_job(app, "queued")
    responses = race(lambda: http.delete(f"{url}/jobs/{job_id}", timeout=10))
    assert statuses(responses) == {200: 1, 409: CLIENTS - 1}, [r.text for r in responses]
    assert {r.json()["error"]["message"] for r in responses if r.status_code == 409} == {
        "a cancelled job cannot be cancelled"
    }
    assert jobs_in(app)[0].state == "cancelled"
