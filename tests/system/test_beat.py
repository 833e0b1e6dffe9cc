"""The beat process type: one scheduler at a time, and the periodic work it sends."""

import subprocess
import uuid

import pytest

from local_servers import wait_until
from tasks.extensions import db
from tasks.models import Job
from tests import processes
from tests.waiting import wait_for_job

pytestmark = pytest.mark.system

BEAT_SETTINGS = {"BEAT_REQUEUE_INTERVAL": "1", "JOB_STUCK_AFTER": "1", "BEAT_LOCK_TIMEOUT": "4"}


def beat_environment(servers, tmp_path, name) -> dict[str, str]:
    return processes.service_environment(
        servers.database_url,
        servers.redis_url,
        **BEAT_SETTINGS,
        BEAT_HEARTBEAT_FILE=str(tmp_path / f"{name}.heartbeat"),
    )


def start_beat(servers, tmp_path, name):
    log = tmp_path / f"{name}.log"
    process = processes.start(
        [str(processes.SERVICES / "worker" / "beat")],
        beat_environment(servers, tmp_path, name),
        cwd=tmp_path,
        log=log,
    )
    return process, log


def healthy(servers, tmp_path, name) -> bool:
    check = [str(processes.SERVICES / "worker" / "beat-healthcheck")]
    env = beat_environment(servers, tmp_path, name)
    return subprocess.run(check, env=env, capture_output=True, timeout=30).returncode == 0


def sent(log) -> int:
    return log.read_text().count("Sending due task")


def test_one_beat_schedules_a_second_takes_over_and_lost_jobs_are_republished(
    app, client, servers, worker, tmp_path
):
    lost = uuid.uuid4()  # committed, but its message never reached Redis
    with app.app_context():
        db.session.add(Job(id=lost, kind="tasks.very_slow_add", arguments={"a": 40, "b": 2}))
        db.session.commit()

    assert not healthy(servers, tmp_path, "first"), "healthy before it ever ran"
    first, first_log = start_beat(servers, tmp_path, "first")
    second, second_log = start_beat(servers, tmp_path, "second")
    try:
        wait_until(lambda: sent(first_log) + sent(second_log) >= 3, 30, "beat to send tasks")
        leader, standby_log = (first, second_log) if sent(first_log) else (second, first_log)
        assert sent(standby_log) == 0, "two beats scheduled at once"
        # Leader and standby both tick, so both pass their health check.
        for name in ("first", "second"):
            wait_until(lambda n=name: healthy(servers, tmp_path, n), 30, f"{name} healthy")

        done = wait_for_job(client, f"/jobs/{lost}", {"succeeded", "failed"})
        assert (done["state"], done["result"]) == ("succeeded", 42)

        processes.kill(leader)
        wait_until(lambda: sent(standby_log) >= 1, 30, "the standby beat to take over")
    finally:
        processes.stop(first)
        processes.stop(second)
