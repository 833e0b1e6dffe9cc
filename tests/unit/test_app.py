"""FlaskTask's retry numbers: the configuration's, unless a task declares its own."""

import pytest

import tasks
from tests.unit.conftest import unit_settings

pytestmark = pytest.mark.unit

RETRIES = ("max_retries", "retry_backoff", "retry_backoff_max")


def nothing() -> None:
    pass


def retry_numbers(task) -> tuple:
    return tuple(getattr(task, name) for name in RETRIES)


@pytest.fixture(scope="module")
def celery_app():
    app = tasks.create_app(
        unit_settings(RETRY_MAX_ATTEMPTS="5", RETRY_BACKOFF="3", RETRY_BACKOFF_MAX="40")
    )
    return app.extensions["celery"]


def test_a_task_that_declares_no_numbers_takes_the_configurations(celery_app):
    task = celery_app.task(name="tests.unit.undeclared")(nothing)
    assert retry_numbers(task) == (5, 3, 40)


def test_numbers_a_task_declares_are_kept_zero_included(celery_app):
    declared = {"max_retries": 0, "retry_backoff": 7, "retry_backoff_max": 9}
    task = celery_app.task(name="tests.unit.declared", **declared)(nothing)
    assert retry_numbers(task) == (0, 7, 9)


def test_job_tasks_of_two_apps_each_take_their_own_apps_numbers(celery_app):
    """JobTask is one class shared by every app: what one app's tasks take from its
    configuration must not stick to it."""
    other = tasks.create_app(unit_settings()).extensions["celery"]
    assert retry_numbers(celery_app.tasks["tasks.apply_price_change"]) == (5, 3, 40)
    assert retry_numbers(other.tasks["tasks.apply_price_change"]) == (8, 2, 300)
