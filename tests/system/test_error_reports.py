"""With SENTRY_DSN set, the real web process (gunicorn) reports each 500 and a real worker
each job that ends failed or dead, once, tagged with the request id and the job id; a 4xx,
a Celery retry and a cancel send nothing. The reports go to a Sentry stand-in on loopback
(tests/sentry_server.py).

"Nothing" is shown by a report that is expected: each process sends its reports one after
the other, in the order it made them (one gunicorn worker, one pool process), so one made
in error would arrive before that later report."""

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import Popen
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import requests
from flask.testing import FlaskClient
from marshmallow import Schema, fields, validate
from psycopg2 import sql

from local_servers import wait_until
from tests import processes
from tests.auth import keyed_client
from tests.failing_job import fail
from tests.integration.helpers import redis_db
from tests.outside_jobs import take_steps
from tests.sentry_server import Event, SentrySink, tags
from tests.settings import settings_for
from tests.waiting import wait_for_job
from tests.web_server import WebServer, web_server
from web import create_app
from web.job_views import Accepted, accept_job, starts_job
from web.openapi import Blueprint

pytestmark = pytest.mark.system

# Redis databases of this module's own: only its workers, which report, consume.
REDIS_DB = 13
THREADS_REDIS_DB = 14
# A role that may connect and read nothing: each query of the API fails as a bug would (a
# grant forgotten), "permission denied", which the API answers 500.
UNGRANTED_ROLE = "products_ungranted"
FINAL_STATES = {"succeeded", "failed", "dead", "cancelled"}

bp = Blueprint("reported", __name__, url_prefix="/reported", description="Jobs that fail.")


class StepsArgs(Schema):
    steps = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=100))
    before = fields.String()
    flaky = fields.Boolean()


class FailArgs(Schema):
    message = fields.String(required=True)
    transient = fields.Boolean()


@bp.post("/steps")
@starts_job(bp, StepsArgs)
def start_steps(args: dict) -> Accepted:
    """Take some steps, in the background."""
    return accept_job(take_steps, args)


@bp.post("/fail")
@starts_job(bp, FailArgs)
def start_fail(args: dict) -> Accepted:
    """Fail, in the background."""
    return accept_job(fail, args)


@pytest.fixture(scope="module")
def sink() -> Iterator[SentrySink]:
    server = SentrySink()
    yield server
    server.stop()


@pytest.fixture
def reports(sink: SentrySink) -> SentrySink:
    sink.reset()
    return sink


def ungranted_url(database_url: str) -> str:
    """The database's URL, as a role that may connect and read no table."""
    owner_url = database_url.replace("postgresql+psycopg2://", "postgresql://")
    password = secrets.token_urlsafe(16)
    connection = psycopg2.connect(owner_url)
    try:
        with connection, connection.cursor() as cursor:
            role = sql.Identifier(UNGRANTED_ROLE)
            cursor.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
            cursor.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(password))
            )
    finally:
        connection.close()
    parts = urlsplit(owner_url)
    netloc = f"{UNGRANTED_ROLE}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture(scope="module")
def web(migrated, sink, tmp_path_factory) -> Iterator[WebServer]:
    """The web process, one gunicorn worker, as a role the database refuses every read."""
    with web_server(
        ungranted_url(migrated.database_url),
        migrated.broker_url,
        tmp_path_factory.mktemp("reporting-web"),
        SENTRY_DSN=sink.dsn,
    ) as server:
        yield server


def reporting_worker(
    servers, migrated, worker_settings, sink, scratch: Path, redis: int, **settings: str
) -> tuple[Popen[bytes], Path]:
    """A worker that reports, importing the tests' job types, running one task at a time."""
    return processes.start_worker(
        servers.database_url,
        redis_db(migrated, redis),
        scratch,
        "reporting",
        **worker_settings,
        CELERY_IMPORTS="tests.outside_jobs,tests.failing_job",
        CELERY_CONCURRENCY="1",
        SENTRY_DSN=sink.dsn,
        **settings,
    )


@pytest.fixture(scope="module")
def worker(
    servers, migrated, worker_settings, sink, tmp_path_factory
) -> Iterator[tuple[Popen[bytes], Path]]:
    """A worker with one pool process; a job whose message comes back once from a dead
    worker is dead."""
    scratch = tmp_path_factory.mktemp("reporting-worker")
    process, log = reporting_worker(
        servers, migrated, worker_settings, sink, scratch, REDIS_DB, JOB_MAX_REDELIVERIES="0"
    )
    yield process, log
    processes.stop(process)


@pytest.fixture(scope="module")
def threads_worker(servers, migrated, worker_settings, sink, tmp_path_factory) -> Iterator[None]:
    """A worker whose pool is a thread, in its own process (the io worker's pool)."""
    scratch = tmp_path_factory.mktemp("reporting-threads-worker")
    process, _ = reporting_worker(
        servers, migrated, worker_settings, sink, scratch, THREADS_REDIS_DB, CELERY_POOL="threads"
    )
    yield
    processes.stop(process)


def client_on(migrated, redis: int) -> FlaskClient:
    settings = settings_for(migrated.database_url, redis_db(migrated, redis))
    return keyed_client(create_app(settings, blueprints=[bp]))


@pytest.fixture
def client(migrated, app) -> FlaskClient:
    return client_on(migrated, REDIS_DB)


def of_request(request_id: str) -> Callable[[Event], bool]:
    return lambda event: tags(event).get("request_id") == request_id


def of_job(job_id: str) -> Callable[[Event], bool]:
    return lambda event: tags(event).get("job_id") == job_id


def internal_error(web: WebServer) -> str:
    """A 500 from the web process; its request id."""
    response = requests.get(f"{web.url}/products", timeout=30)
    assert response.status_code == 500, response.text
    return response.headers["X-Request-ID"]


def start(client: FlaskClient, kind: str, **arguments: object) -> str:
    """A job of the tests' own, started; its id."""
    response = client.post(f"/reported/{kind}", json=arguments)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def ended(client: FlaskClient, job_id: str) -> dict:
    return wait_for_job(client, f"/jobs/{job_id}", FINAL_STATES)


def failed_job(client: FlaskClient) -> str:
    job_id = start(client, "fail", message="the marker fails")
    assert ended(client, job_id)["state"] == "failed"
    return job_id


def test_a_500_is_reported_once_with_its_traceback_and_request_id(web, reports):
    first, then = internal_error(web), internal_error(web)
    received = reports.wait_for(of_request(then))
    assert [tags(event).get("request_id") for event in received] == [first, then]
    event = received[0]
    assert (tags(event)["process"], event["environment"]) == ("web", "test")
    raised = event["exception"]["values"][-1]
    assert raised["type"] == "ProgrammingError"
    assert "permission denied" in raised["value"]
    assert any(frame["function"] == "list_products" for frame in raised["stacktrace"]["frames"])


def test_a_4xx_is_not_reported(web, reports):
    refused = [
        requests.get(f"{web.url}/no-such-route", timeout=30),
        requests.post(f"{web.url}/products", json={}, timeout=30),
        requests.get(f"{web.url}/products?per_page=1000", timeout=30),
        requests.delete(f"{web.url}/products", timeout=30),
    ]
    assert [response.status_code for response in refused] == [404, 401, 400, 405]
    then = internal_error(web)
    assert [tags(event).get("request_id") for event in reports.wait_for(of_request(then))] == [then]


def test_a_failed_job_is_reported_once_tagged_with_its_job_id(client, worker, reports):
    job_id = start(client, "fail", message="a bug")
    job = ended(client, job_id)
    assert job["state"] == "failed"
    then = failed_job(client)
    received = reports.wait_for(of_job(then))
    assert [tags(event).get("job_id") for event in received] == [job_id, then]
    event = received[0]
    # The request that started the job, as its message carried it to the worker.
    assert job["request_id"] and tags(event).get("request_id") == job["request_id"]
    assert {name: tags(event).get(name) for name in ("process", "job_state", "task_id")} == {
        "process": "worker",
        "job_state": "failed",
        "task_id": job_id,
    }
    raised = event["exception"]["values"][-1]
    assert (raised["type"], raised["value"]) == ("RuntimeError", "a bug")
    assert raised["stacktrace"]["frames"][-1]["function"] == "fail"


def test_a_failed_job_is_reported_once_from_a_worker_whose_pool_is_threads(
    migrated, app, threads_worker, reports
):
    client = client_on(migrated, THREADS_REDIS_DB)
    job_id = start(client, "fail", message="a bug")
    assert ended(client, job_id)["state"] == "failed"
    then = failed_job(client)
    received = reports.wait_for(of_job(then))
    assert [tags(event).get("job_id") for event in received] == [job_id, then]
    assert tags(received[0])["process"] == "worker"


def test_a_job_whose_retries_ran_out_is_reported_dead_once(client, worker, reports):
    job_id = start(client, "fail", message="still down", transient=True)
    done = ended(client, job_id)
    assert (done["state"], done["attempts"]) == ("dead", 2)
    then = failed_job(client)
    received = reports.wait_for(of_job(then))
    assert [tags(event).get("job_id") for event in received] == [job_id, then]
    assert tags(received[0])["job_state"] == "dead"
    assert received[0]["exception"]["values"][-1]["type"] == "Transient"


def test_a_job_given_up_after_its_worker_died_is_reported_dead_once(
    client, worker, reports, tmp_path
):
    gate = tmp_path / "never-opened"
    job_id = start(client, "steps", steps=1, before=str(gate))
    wait_until(Path(f"{gate}.reached").exists, 30, "the job to start", interval=0.02)
    for pool_process in processes.pool_processes(worker[0]):
        pool_process.kill()
    assert ended(client, job_id)["state"] == "dead"
    then = failed_job(client)
    received = reports.wait_for(of_job(then))
    assert [tags(event).get("job_id") for event in received] == [job_id, then]
    assert tags(received[0])["job_state"] == "dead"
    assert "given up" in received[0]["message"]


def test_a_job_retried_then_succeeding_is_not_reported(client, worker, reports):
    job_id = start(client, "steps", steps=1, flaky=True)
    done = ended(client, job_id)
    assert (done["state"], done["attempts"]) == ("succeeded", 2)
    then = failed_job(client)
    assert [tags(event).get("job_id") for event in reports.wait_for(of_job(then))] == [then]


def test_a_cancelled_job_is_not_reported(client, worker, reports, tmp_path):
    gate = tmp_path / "gate"
    job_id = start(client, "steps", steps=1, before=str(gate))
    wait_until(Path(f"{gate}.reached").exists, 30, "the job to start", interval=0.02)
    assert client.delete(f"/jobs/{job_id}").status_code == 200
    gate.touch()  # the body finds the cancel at its next check, and stops
    _, log = worker
    wait_until(lambda: f"{job_id}] stopped" in log.read_text(), 30, "the body to stop")
    then = failed_job(client)
    assert [tags(event).get("job_id") for event in reports.wait_for(of_job(then))] == [then]
