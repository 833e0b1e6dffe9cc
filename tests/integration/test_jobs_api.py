import logging
import uuid

import pytest

from local_servers import free_port
from tasks import very_slow_add
from tasks.extensions import db
from tasks.jobs import start_job
from tasks.models import Job
from tests.auth import keyed_client
from tests.integration.helpers import NEVER_ISSUED_JOB_ID
from tests.settings import PROMISED_DEADLINES, settings_for
from tests.waiting import wait_for_job
from web import create_app

pytestmark = pytest.mark.integration


def job_count(app) -> int:
    with app.app_context():
        return db.session.query(Job).count()


def test_slow_add_answers_202_at_once_and_the_worker_finishes_it(client, worker):
    response = client.post("/jobs/slow-add", json={"a": 5, "b": 7})
    assert response.status_code == 202
    location = response.headers["Location"]
    accepted = response.get_json()
    assert location == f"/jobs/{accepted['id']}"
    # Answered without waiting: the task sleeps for 3 s before it has a result.
    assert accepted["state"] == "queued"
    assert accepted["result"] is None

    running = wait_for_job(client, location, {"running", "succeeded"})
    assert running["started_at"] is not None
    done = wait_for_job(client, location, {"succeeded", "failed"})
    assert done["state"] == "succeeded"
    assert done["result"] == 12
    assert done["attempts"] == 1
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]


def test_a_task_that_raises_leaves_a_failed_job_with_its_error(app, client, worker):
    with app.app_context():
        job_id = start_job(very_slow_add, {"a": "five", "b": 7})[0].id
    done = wait_for_job(client, f"/jobs/{job_id}", {"succeeded", "failed"})
    assert done["state"] == "failed"
    assert done["error"].startswith("TypeError")
    assert done["result"] is None


def a_job_row(app, **fields) -> uuid.UUID:
    with app.app_context():
        job = Job(kind="test", arguments={}, **fields)
        db.session.add(job)
        db.session.commit()
        return job.id


def test_progress_reported_by_a_task_shows_on_the_job(app, client):
    job_id = a_job_row(app, state="running", deliveries=1)
    app.extensions["ledger"].progress(job_id, 1, 250, 1000)
    assert client.get(f"/jobs/{job_id}").get_json()["progress"] == {
        "done": 250,
        "total": 1000,
        "percent": 25.0,
    }


def test_a_job_without_progress_reports_none(app, client):
    progress = client.get(f"/jobs/{a_job_row(app)}").get_json()["progress"]
    assert progress is None


@pytest.mark.parametrize("job_id", [NEVER_ISSUED_JOB_ID, "not-a-uuid", "0"])
def test_a_job_that_was_never_issued_is_a_404(client, job_id):
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "payload", [{"a": 5}, {"a": "5", "b": 7}, {"a": 1.5, "b": 2}, {"a": 1, "b": 2, "c": 3}]
)
def test_invalid_arguments_are_a_400_and_start_nothing(app, client, payload):
    response = client.post("/jobs/slow-add", json=payload)
    assert response.status_code == 400
    assert job_count(app) == 0


def test_arguments_celery_would_refuse_leave_no_job_behind(app):
    with app.app_context(), pytest.raises(TypeError):
        start_job(very_slow_add, {"a": 1})
    assert job_count(app) == 0


def test_with_redis_down_a_publish_is_a_quick_503_and_leaves_nothing(migrated, app, caplog):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    settings = settings_for(migrated.database_url, dead_redis, **PROMISED_DEADLINES)
    with caplog.at_level(logging.WARNING):
        response = keyed_client(create_app(settings)).post(
            "/jobs/slow-add", json={"a": 1, "b": 2}, headers={"X-Request-ID": "dead-redis-1"}
        )
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "broker_unavailable"
    assert response.headers["Retry-After"]
    assert job_count(app) == 0
    # Logged, for whoever looks, with the request id, and without a traceback: not a bug.
    [record] = [r for r in caplog.records if "unavailable in POST /jobs/slow-add" in r.message]
    assert record.levelno == logging.WARNING
    assert "dead-redis-1" in record.message
    assert record.exc_info is None
