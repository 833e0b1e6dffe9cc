import pytest

from tasks.extensions import db
from tasks.models import Job, JobState
from tests.integration.helpers import prices

pytestmark = pytest.mark.integration


def a_job(app, state: JobState, **fields) -> str:
    with app.app_context():
        job = Job(kind="tasks.very_slow_add", arguments={"a": 1, "b": 2}, state=state, **fields)
        db.session.add(job)
        db.session.commit()
        return str(job.id)


def test_seed_inserts_products_with_copy(app, runner):
    result = runner.invoke(args=["products", "seed", "--count", "2500", "--sku-prefix", "CLI-"])
    assert result.exit_code == 0, result.output
    assert "inserted 2500 products (sku CLI-…)" in result.output
    assert len(prices(app)) == 2500
    assert runner.invoke(args=["products", "seed", "--count", "0"]).exit_code == 2


def test_jobs_list_filters_by_state_and_show_tells_all(app, runner):
    dead = a_job(app, JobState.DEAD, error="given up after 4 deliveries")
    done = a_job(app, JobState.SUCCEEDED, progress_done=5, progress_total=5)
    listed = runner.invoke(args=["jobs", "list", "--state", "dead"]).output
    assert dead in listed and done not in listed
    assert "given up after 4 deliveries" in listed
    assert "5/5" in runner.invoke(args=["jobs", "list"]).output
    shown = runner.invoke(args=["jobs", "show", done]).output
    assert "state: succeeded" in shown and "arguments: {'a': 1, 'b': 2}" in shown


def test_jobs_retry_and_cancel_refuse_what_the_state_does_not_allow(app, runner):
    done = a_job(app, JobState.SUCCEEDED)
    for command in ("retry", "cancel"):
        result = runner.invoke(args=["jobs", command, done])
        assert result.exit_code == 1
        assert "succeeded job cannot be" in result.output
    queued = a_job(app, JobState.QUEUED)
    assert "cancelled" in runner.invoke(args=["jobs", "cancel", queued]).output
    missing = runner.invoke(args=["jobs", "show", "00000000-0000-0000-0000-000000000000"])
    assert missing.exit_code == 1 and "no job" in missing.output


def test_jobs_watch_follows_a_job_to_its_end(app, client, runner, worker):
    job_id = client.post("/jobs/slow-add", json={"a": 4, "b": 5}).get_json()["id"]
    result = runner.invoke(args=["jobs", "watch", job_id, "--interval", "0.1"])
    assert result.exit_code == 0, result.output
    assert f"{job_id}  succeeded" in result.output
    failed = a_job(app, JobState.FAILED, error="boom")
    assert runner.invoke(args=["jobs", "watch", failed]).exit_code == 1
