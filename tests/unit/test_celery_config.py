"""The Celery configuration's invariants that tests/unit/test_settings.py leaves out."""

import pytest

from tasks.celery_config import celery_config
from tests.unit.conftest import unit_settings

pytestmark = pytest.mark.unit


def test_the_beat_schedule_requeues_a_running_job_only_once_redis_would_have_redelivered_it():
    settings = unit_settings(CELERY_TASK_TIME_LIMIT="100", JOB_STUCK_AFTER="450")
    requeue = celery_config(settings)["beat_schedule"]["requeue-stuck-jobs"]
    assert requeue["kwargs"] == {"older_than": 450, "running_longer_than": 200 + 100}


def test_routes_and_the_schedule_name_tasks_the_app_has(celery_app):
    conf = celery_app.conf
    named = {*conf.task_routes, *(entry["task"] for entry in conf.beat_schedule.values())}
    assert named <= set(celery_app.tasks)
    assert conf.task_routes["tasks.sync_products"] == {"queue": "io"}


@pytest.mark.parametrize(("lock", "interval"), [("60", 5), ("1", 1)])
def test_beat_ticks_often_enough_to_keep_its_lock(lock, interval):
    assert (
        celery_config(unit_settings(BEAT_LOCK_TIMEOUT=lock))["beat_max_loop_interval"] == interval
    )


def test_every_redis_client_gets_the_redis_timeout_and_none_when_it_is_zero():
    bounded = celery_config(unit_settings(REDIS_TIMEOUT="2"))
    assert bounded["broker_transport_options"]["socket_timeout"] == 2
    assert bounded["redis_socket_timeout"] == bounded["redis_socket_connect_timeout"] == 2
    assert bounded["redbeat_redis_options"] == {"socket_timeout": 2, "socket_connect_timeout": 2}
    unbounded = celery_config(unit_settings(REDIS_TIMEOUT="0"))
    assert "socket_timeout" not in unbounded["broker_transport_options"]
    assert "redis_socket_timeout" not in unbounded
    assert unbounded["redbeat_redis_options"] == {}
    assert unbounded["broker_connection_timeout"] == 4
