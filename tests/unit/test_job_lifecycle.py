import time

import pytest
from celery.exceptions import MaxRetriesExceededError
from flask import current_app
from sqlalchemy.exc import OperationalError

from tasks.job_lifecycle import JobContext, job_task

pytestmark = pytest.mark.unit


@job_task(name="tests.unit.what_the_body_is_given")
def what_the_body_is_given(job: JobContext, a: int, b: int = 0) -> dict:
    return {
        "job": (job.job_id, job.delivery, job.checkpoint),
        "time_left": job.time_left(),
        "app": current_app._get_current_object(),
        "sum": a + b,
    }


@pytest.fixture
def pushed(celery_app):
    """Push a request on a task of the session's app, as a worker does for a delivery."""
    pushed = []

    def push(name, **request):
        task = celery_app.tasks[name]
        task.push_request(**request)
        pushed.append(task)
        return task

    yield push
    for task in pushed:
        task.pop_request()


def test_a_task_sent_without_the_job_header_runs_its_body_with_no_job(tasks_app, pushed):
    task = pushed("tests.unit.what_the_body_is_given", timelimit=(60, 40))
    given = task(2, b=3)
    assert given["job"] == (None, 0, None)
    assert given["app"] is tasks_app
    assert given["sum"] == 5
    assert 39 < given["time_left"] <= 40, "the deadline is the soft time limit from the start"


def test_outside_a_job_progress_and_check_cancelled_do_nothing_and_time_still_runs():
    # A ledger that cannot do anything: touching it would raise AttributeError.
    job = JobContext(None, 0, time.monotonic() + 30, ledger=object())
    job.progress(5, 10)
    job.check_cancelled()
    assert 29 < job.time_left() <= 30
    assert JobContext(None, 0, time.monotonic() - 1).time_left() < 0


def test_outside_a_job_commit_only_commits_and_keeps_the_checkpoint_given(tasks_app):
    job = JobContext(None, 0, time.monotonic() + 10, checkpoint={"after": 1})
    with tasks_app.app_context():
        job.commit(done=5)
        assert job.checkpoint == {"after": 1}
        job.commit(checkpoint={"after": 2}, done=6)
        assert job.checkpoint == {"after": 2}
        job.commit(checkpoint=None)
        assert job.checkpoint is None


def test_a_job_task_takes_its_bodys_own_arguments(celery_app):
    celery_app.tasks["tasks.very_slow_add"].__header__(1, b=2)
    celery_app.tasks["tasks.sync_products"].__header__()
    celery_app.tasks["tasks.sync_products"].__header__(product_ids=[1, 2])
    celery_app.tasks["tasks.apply_price_change"].__header__(percent="10.00", sku_prefix="A")


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("tasks.very_slow_add", (1, 2, 3), {}),
        ("tasks.very_slow_add", (), {"job": None, "a": 1, "b": 2}),
        ("tasks.apply_price_change", ("10.00",), {}),
    ],
    ids=["too-many", "job-given", "positional-for-keywords"],
)
def test_a_job_task_refuses_other_arguments_and_the_job_itself(celery_app, name, args, kwargs):
    with pytest.raises(TypeError):
        celery_app.tasks[name].__header__(*args, **kwargs)


@pytest.mark.parametrize(("retries", "delay"), [(3, 16), (30, 300)])
def test_the_backoff_doubles_from_retry_backoff_up_to_its_maximum(
    pushed, monkeypatch, retries, delay
):
    task = pushed("tasks.very_slow_add", retries=retries)
    # The session's settings: RETRY_BACKOFF=2, RETRY_BACKOFF_MAX=300.
    monkeypatch.setattr(task, "retry_jitter", False)
    assert task.backoff() == delay


def test_the_backoff_has_full_jitter_within_its_bound(pushed):
    task = pushed("tasks.very_slow_add", retries=3)
    delays = {task.backoff() for _ in range(200)}
    assert delays <= set(range(17))
    assert len(delays) > 5, "full jitter: any delay from 0 to the bound"


def database_down() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("connection refused"))


@pytest.mark.parametrize(
    ("name", "error", "ran_out"),
    [
        ("tasks.apply_price_change", database_down(), True),
        ("tasks.very_slow_add", database_down(), False),
        ("tasks.very_slow_add", MaxRetriesExceededError(), True),
    ],
    ids=["retried-on", "not-retried-on", "max-retries"],
)
def test_an_error_the_task_retries_on_that_escapes_means_its_retries_ran_out(
    celery_app, name, error, ran_out
):
    assert celery_app.tasks[name]._retries_ran_out(error) is ran_out


@pytest.mark.parametrize(
    ("request_limits", "task_limits", "expected"),
    [
        ((30, 20), {"time_limit": 100, "soft_time_limit": 80}, (30.0, 20.0)),
        (None, {"time_limit": 100, "soft_time_limit": 80}, (100.0, 80.0)),
        ([None, None], {}, (360.0, 300.0)),
    ],
    ids=["message", "task", "configuration"],
)
def test_a_deliverys_time_limits_come_from_its_message_its_task_or_the_configuration(
    pushed, monkeypatch, request_limits, task_limits, expected
):
    task = pushed("tasks.very_slow_add", timelimit=request_limits)
    for name, value in task_limits.items():
        monkeypatch.setattr(task, name, value)
    assert task._time_limits() == expected
