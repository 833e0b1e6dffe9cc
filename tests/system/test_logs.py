"""Every line the web and worker processes write is JSON (LOG_FORMAT=json) naming its process
type; one request id goes from an HTTP request through every delivery of the job it started."""

from typing import Any

import pytest
import requests

from local_servers import wait_until
from tests import processes
from tests.auth import keyed_client, make_key
from tests.integration.helpers import redis_db
from tests.log_lines import json_lines
from tests.outside_endpoints import own_app
from tests.waiting import wait_for_job
from tests.web_server import web_server

pytestmark = pytest.mark.system

# A Redis database of this module's own: only its worker, which imports the job type, consumes.
REDIS_DB = 13


@pytest.fixture
def json_worker(servers, migrated, worker_settings, tmp_path):
    worker, log = processes.start_worker(
        servers.database_url,
        redis_db(migrated, REDIS_DB),
        tmp_path,
        "worker",
        **worker_settings,
        CELERY_IMPORTS="tests.outside_jobs",
        LOG_FORMAT="json",
    )
    yield log
    processes.stop(worker)


def test_every_line_of_every_delivery_names_the_request_that_started_the_job(
    migrated, app, json_worker
):
    """A job whose first delivery fails and is retried by Celery: both deliveries' lines, from
    the consumer's "received" to "succeeded in", carry the request's id and the job's."""
    client = keyed_client(own_app(migrated.database_url, redis_db(migrated, REDIS_DB)))
    response = client.post(
        "/own/steps", json={"steps": 2, "flaky": True}, headers={"X-Request-ID": "t-1"}
    )
    assert response.status_code == 202
    done = wait_for_job(client, response.headers["Location"], {"succeeded", "failed", "dead"})
    assert (done["state"], done["result"]["delivery"]) == ("succeeded", 2)
    assert done["request_id"] == "t-1"

    def about_the_job() -> list[dict[str, Any]]:
        lines = [line for line in json_lines(json_worker) if line.get("task_id") == done["id"]]
        return lines if any("succeeded in" in line["message"] for line in lines) else []

    lines = wait_until(about_the_job, 30, "the worker to log the job's success")
    messages = [line["message"] for line in lines]
    assert sum("received" in message for message in messages) == 2, messages
    assert sum("Retry in" in message for message in messages) == 1, messages
    assert {(line["request_id"], line["job_id"]) for line in lines} == {("t-1", done["id"])}
    assert {line["process_type"] for line in json_lines(json_worker)} == {"worker"}


def test_every_line_of_the_web_process_is_json_and_names_its_request(app, servers, tmp_path):
    with web_server(servers.database_url, servers.redis_url, tmp_path, LOG_FORMAT="json") as web:
        key = make_key(app, "jobs")
        started = requests.post(
            f"{web.url}/jobs/slow-add",
            json={"a": 1, "b": 2},
            headers={"Authorization": f"Bearer {key}", "X-Request-ID": "t-web"},
            timeout=10,
        )
        assert started.status_code == 202
        requests.get(f"{web.url}/products/0", headers={"X-Request-ID": "t-404"}, timeout=10)

        def access_lines() -> list[dict[str, Any]]:
            lines = [line for line in json_lines(web.log) if line["logger"] == "gunicorn.access"]
            return lines if {"t-web", "t-404"} <= {line.get("request_id") for line in lines} else []

        access = {line["request_id"]: line for line in wait_until(access_lines, 30, "access")}
    assert (access["t-web"]["method"], access["t-web"]["path"]) == ("POST", "/jobs/slow-add")
    assert (access["t-web"]["status"], access["t-404"]["status"]) == ("202", "404")
    lines = json_lines(web.log)
    assert {line["process_type"] for line in lines} == {"web"}
    assert any(line["logger"] == "gunicorn.error" for line in lines), "gunicorn's own lines"
