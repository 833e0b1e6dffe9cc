"""Beat's periodic work, run in-process against the real database and worker."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tasks.extensions import db
from tasks.models import Job
from tasks.work.maintenance import requeue_stuck_jobs
from tests.waiting import wait_for_job

pytestmark = pytest.mark.integration

LONG_AGO = datetime.now(UTC) - timedelta(hours=2)


def a_job(app, **fields) -> uuid.UUID:
    with app.app_context():
        job = Job(kind="tasks.very_slow_add", arguments={"a": 40, "b": 2}, **fields)
        db.session.add(job)
        db.session.commit()
        return job.id


def test_jobs_whose_message_was_lost_are_published_again_and_finish(app, client, worker):
    lost_while_queued = a_job(app, state="queued", updated_at=LONG_AGO)
    # Claimed long ago and never finished: its worker died and Redis no longer has it.
    lost_while_running = a_job(app, state="running", deliveries=1, attempts=1, claimed_at=LONG_AGO)
    fresh = a_job(app, state="queued")  # its message is on its way: left alone
    still_running = a_job(
        app, state="running", deliveries=1, attempts=1, claimed_at=datetime.now(UTC)
    )
    with app.app_context():
        assert requeue_stuck_jobs(older_than=600, running_longer_than=3600) == 2
    for job_id in (lost_while_queued, lost_while_running):
        done = wait_for_job(client, f"/jobs/{job_id}", {"succeeded", "failed", "dead"})
        assert (done["state"], done["result"]) == ("succeeded", 42)
    for job_id in (fresh, still_running):
        assert client.get(f"/jobs/{job_id}").get_json()["result"] is None
