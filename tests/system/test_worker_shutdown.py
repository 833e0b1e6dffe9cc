"""Heroku (and `docker stop`) send SIGTERM, then SIGKILL 30 s later."""

import signal

import pytest

from local_servers import wait_until
from tasks.settings import current_settings
from tests import processes
from tests.auth import keyed_client
from tests.integration.helpers import app_on_redis_db
from tests.waiting import wait_for_job

pytestmark = pytest.mark.system


def test_sigterm_hands_the_running_task_back_within_heroku_30_seconds(migrated, servers, tmp_path):
    app = app_on_redis_db(migrated, 5)
    broker = current_settings(app).broker_url
    # As the worker image runs it. The visibility timeout stays at 720 s, so a task back
    # within the test's deadline was handed back by the worker, not recovered by Redis.
    settings = {"REMAP_SIGTERM": "SIGQUIT", "CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT": "1"}
    first, _ = processes.start_worker(servers.database_url, broker, tmp_path, "first", **settings)
    client = keyed_client(app)
    location = client.post("/jobs/slow-add", json={"a": 3, "b": 4}).headers["Location"]
    wait_until(lambda: client.get(location).get_json()["state"] == "running", 30, "the task")

    first.send_signal(signal.SIGTERM)
    assert first.wait(30) is not None  # gone before Heroku's SIGKILL
    assert client.get(location).get_json()["state"] == "running"

    second, _ = processes.start_worker(servers.database_url, broker, tmp_path, "second")
    try:
        done = wait_for_job(client, location, {"succeeded", "failed", "dead"}, timeout=30)
    finally:
        processes.stop(second)
    assert (done["state"], done["result"], done["attempts"]) == ("succeeded", 7, 2)
