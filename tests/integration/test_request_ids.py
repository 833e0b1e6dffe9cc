"""A job keeps the id of the request that started it, and of the last that retried it; each
message of its task carries the latest, also when beat publishes it again."""

import json
import uuid

import pytest
import redis
from sqlalchemy import update

from tasks.extensions import db
from tasks.models import Job, JobState
from tasks.work.maintenance import requeue_stuck_jobs
from tests.auth import keyed_client
from tests.integration.helpers import app_on_redis_db

pytestmark = pytest.mark.integration

# No worker consumes here: the messages stay in the queue for the test to read.
REDIS_DB = 12


@pytest.fixture
def idle(migrated, app):
    idle = app_on_redis_db(migrated, REDIS_DB)
    queue = redis.Redis.from_url(idle.extensions["settings"].broker_url)
    queue.flushdb()
    yield idle, queue
    queue.flushdb()


def request_ids_sent(queue: redis.Redis) -> list[str]:
    """The request id in each message waiting in the default queue, oldest first."""
    return [
        json.loads(raw)["headers"]["request_id"] for raw in reversed(queue.lrange("celery", 0, -1))
    ]


def test_the_request_that_starts_a_job_is_on_its_row_and_in_its_message(idle):
    app, queue = idle
    client = keyed_client(app)
    started = client.post("/jobs/slow-add", json={"a": 1, "b": 2}, headers={"X-Request-ID": "t-1"})
    job = client.get(started.headers["Location"]).get_json()
    assert (job["request_id"], job["retry_request_id"]) == ("t-1", None)
    assert request_ids_sent(queue) == ["t-1"]


def test_a_job_started_without_an_id_gets_the_one_the_response_gives(idle):
    app, queue = idle
    started = keyed_client(app).post("/jobs/slow-add", json={"a": 1, "b": 2})
    assert request_ids_sent(queue) == [started.headers["X-Request-ID"]]


def test_an_api_retry_names_the_retrying_request_and_keeps_the_first(idle):
    app, queue = idle
    client = keyed_client(app)
    started = client.post("/jobs/slow-add", json={"a": 1, "b": 2}, headers={"X-Request-ID": "t-1"})
    job_id = started.get_json()["id"]
    with app.app_context():
        db.session.execute(
            update(Job).where(Job.id == uuid.UUID(job_id)).values(state=JobState.FAILED)
        )
        db.session.commit()
    retried = client.post(f"/jobs/{job_id}/retry", headers={"X-Request-ID": "t-2"})
    assert retried.status_code == 202
    job = client.get(f"/jobs/{job_id}").get_json()
    assert (job["request_id"], job["retry_request_id"]) == ("t-1", "t-2")
    assert request_ids_sent(queue) == ["t-1", "t-2"]


def test_beat_publishing_a_lost_job_again_keeps_its_request_id(idle):
    app, queue = idle
    client = keyed_client(app)
    client.post("/jobs/slow-add", json={"a": 1, "b": 2}, headers={"X-Request-ID": "t-lost"})
    queue.delete("celery")  # the message is lost
    with app.app_context():
        assert requeue_stuck_jobs(older_than=0, running_longer_than=3600) == 1
    assert request_ids_sent(queue) == ["t-lost"]


def test_flask_jobs_show_names_the_requests(idle):
    app, _ = idle
    started = keyed_client(app).post(
        "/jobs/slow-add", json={"a": 1, "b": 2}, headers={"X-Request-ID": "t-show"}
    )
    shown = app.test_cli_runner().invoke(args=["jobs", "show", started.get_json()["id"]])
    assert "request_id: t-show" in shown.output
