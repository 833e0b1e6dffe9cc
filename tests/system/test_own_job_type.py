"""A job type defined outside the library (tests/outside_jobs.py), started by an endpoint of
its own made with web.job_views.starts_job, gets without touching the library's internals
what every job gets: its OpenAPI entry, the ledger (state, progress, result), cancel and
retry, its declared retries, redelivery counting, Idempotency-Key and the rate limits."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from subprocess import Popen

import pytest

from local_servers import wait_until
from tests import processes
from tests.auth import keyed_client
from tests.integration.helpers import redis_db
from tests.outside_endpoints import own_app
from tests.waiting import wait_for_job

pytestmark = pytest.mark.system

# A Redis database of this module's own: only its worker, which imports the job type, consumes.
REDIS_DB = 5
MAX_REDELIVERIES = 1


@pytest.fixture(scope="module")
def own_worker(
    servers, migrated, worker_settings, tmp_path_factory
) -> Iterator[tuple[Popen[bytes], Path]]:
    """A worker on this module's Redis database that imports the job type, as a user's would."""
    worker, log = processes.start_worker(
        servers.database_url,
        redis_db(migrated, REDIS_DB),
        tmp_path_factory.mktemp("own-worker"),
        "own",
        **worker_settings,
        CELERY_IMPORTS="tests.outside_jobs",
        JOB_MAX_REDELIVERIES=str(MAX_REDELIVERIES),
    )
    yield worker, log
    processes.stop(worker)


@pytest.fixture
def client(migrated, app):
    return keyed_client(own_app(migrated.database_url, redis_db(migrated, REDIS_DB)))


def reached(gate: Path, deliveries: int) -> None:
    def there() -> bool:
        marks = Path(f"{gate}.reached")
        return marks.exists() and len(marks.read_text().split()) >= deliveries

    wait_until(there, 30, f"{deliveries} deliveries to reach {gate.name}", interval=0.02)


def test_it_is_described_with_everything_a_job_start_answers(client):
    operation = client.get("/openapi.json").get_json()["paths"]["/own/steps"]["post"]
    assert operation["security"] == [{"bearerAuth": ["jobs"]}]
    assert {"202", "400", "401", "403", "409", "413", "415", "429", "503"} <= set(
        operation["responses"]
    )
    assert "Idempotency-Key" in [parameter["name"] for parameter in operation["parameters"]]
    assert "Location" in operation["responses"]["202"]["headers"]


def test_its_ledger_records_its_progress_and_result(client, own_worker):
    response = client.post("/own/steps", json={"steps": 4})
    assert response.status_code == 202
    done = wait_for_job(client, response.headers["Location"], {"succeeded", "failed", "dead"})
    assert (done["state"], done["result"], done["attempts"]) == (
        "succeeded",
        {"steps": 4, "delivery": 1},
        1,
    )
    assert done["progress"] == {"done": 4, "total": 4, "percent": 100.0}
    assert done["kind"] == "tests.take_steps"


def test_a_retry_it_declares_runs_it_again_to_success(client, own_worker):
    location = client.post("/own/steps", json={"steps": 2, "flaky": True}).headers["Location"]
    done = wait_for_job(client, location, {"succeeded", "failed", "dead"})
    assert (done["state"], done["attempts"], done["error"]) == ("succeeded", 2, None)
    assert done["result"] == {"steps": 2, "delivery": 2}


def test_it_can_be_cancelled_and_retried(client, own_worker, tmp_path):
    gate = tmp_path / "gate"
    location = client.post("/own/steps", json={"steps": 3, "before": str(gate)}).headers["Location"]
    reached(gate, 1)
    cancelled = client.delete(location)
    assert cancelled.status_code == 200
    assert cancelled.get_json()["state"] == "cancelled"
    gate.touch()  # the body finds the cancel at its next check, and records nothing
    _, log = own_worker
    job_id = location.rsplit("/", 1)[1]
    wait_until(lambda: f"{job_id}] stopped" in log.read_text(), 30, "the body to stop")
    assert client.get(location).get_json()["state"] == "cancelled"

    assert client.post(f"{location}/retry").status_code == 202
    done = wait_for_job(client, location, {"succeeded", "failed", "dead"})
    assert (done["state"], done["attempts"], done["result"]["steps"]) == ("succeeded", 1, 3)


def test_its_redeliveries_are_counted_and_a_job_that_kills_its_worker_ends_dead(
    client, own_worker, tmp_path
):
    gate = tmp_path / "never-opened"
    location = client.post("/own/steps", json={"steps": 1, "before": str(gate)}).headers["Location"]
    for delivery in range(1, MAX_REDELIVERIES + 2):
        reached(gate, delivery)
        assert client.get(location).get_json()["attempts"] == delivery
        for child in processes.pool_processes(own_worker[0]):
            child.kill()
    dead = wait_for_job(client, location, {"dead", "succeeded", "failed"})
    assert (dead["state"], dead["attempts"]) == ("dead", MAX_REDELIVERIES + 2)
    assert "deliveries" in dead["error"]


def test_one_idempotency_key_is_one_job(client):
    headers = {"Idempotency-Key": f"steps-{uuid.uuid4()}"}
    first = client.post("/own/steps", json={"steps": 1}, headers=headers)
    again = client.post("/own/steps", json={"steps": 1}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.post("/own/steps", json={"steps": 2}, headers=headers).status_code == 409


def test_it_counts_against_the_rate_limits_of_starting_work(migrated, app):
    limited = keyed_client(
        own_app(
            migrated.database_url,
            redis_db(migrated, REDIS_DB),
            JOBS_RATE_LIMIT_PER_KEY="2/minute",
        )
    )
    answers = [limited.post("/own/steps", json={"steps": 1}) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
