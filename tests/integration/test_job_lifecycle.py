import pytest

from local_servers import wait_until
from tasks.settings import current_settings
from tests import processes
from tests.auth import keyed_client
from tests.integration.helpers import app_on_redis_db, seed
from tests.waiting import wait_for_job

pytestmark = pytest.mark.integration


def test_jobs_are_listed_newest_first_and_filtered_by_state(client, worker):
    first = client.post("/jobs/slow-add", json={"a": 1, "b": 1}).get_json()["id"]
    second = client.post("/jobs/slow-add", json={"a": 2, "b": 2}).get_json()["id"]
    listed = client.get("/jobs").get_json()
    assert [job["id"] for job in listed["items"]] == [second, first]
    wait_for_job(client, f"/jobs/{first}", {"succeeded"})
    wait_for_job(client, f"/jobs/{second}", {"succeeded"})
    assert client.get("/jobs?state=succeeded").get_json()["total"] == 2
    assert client.get("/jobs?state=dead").get_json()["items"] == []
    assert client.get("/jobs?state=exploded").status_code == 400


def test_finished_jobs_can_be_neither_cancelled_nor_retried(client, worker):
    location = client.post("/jobs/slow-add", json={"a": 1, "b": 1}).headers["Location"]
    wait_for_job(client, location, {"succeeded"})
    assert client.delete(location).status_code == 409
    assert client.post(f"{location}/retry").status_code == 409
    assert client.get(location).get_json()["state"] == "succeeded"


def test_a_cancelled_queued_job_never_runs_and_can_be_retried(migrated, app, tmp_path, servers):
    idle = app_on_redis_db(migrated, 3)  # no worker consumes here until we start one
    client = keyed_client(idle)
    location = client.post("/jobs/slow-add", json={"a": 20, "b": 22}).headers["Location"]
    cancelled = client.delete(location)
    assert cancelled.status_code == 200
    assert cancelled.get_json()["state"] == "cancelled"

    broker = current_settings(idle).broker_url
    process, log = processes.start_worker(servers.database_url, broker, tmp_path, "late")
    try:
        wait_until(lambda: "skipped: its job is over" in log.read_text(), 30, "the skip")
        job = client.get(location).get_json()
        assert (job["state"], job["attempts"], job["result"]) == ("cancelled", 0, None)

        assert client.post(f"{location}/retry").status_code == 202
        done = wait_for_job(client, location, {"succeeded", "failed"})
        assert (done["state"], done["result"]) == ("succeeded", 42)
    finally:
        processes.stop(process)


def test_cancelling_a_running_price_change_stops_it_and_retry_finishes_it(app, client, worker):
    before = seed(app, 60_000, "CAN-")
    location = client.post("/products/price-changes", json={"percent": "1"}).headers["Location"]
    wait_until(
        lambda: (client.get(location).get_json()["progress"] or {}).get("done", 0) > 0,
        30,
        "the change to start",
        interval=0.005,
    )
    assert client.delete(location).get_json()["state"] == "cancelled"
    stopped = wait_for_job(client, location, {"cancelled"})
    assert stopped["progress"]["done"] < len(before)

    assert client.post(f"{location}/retry").status_code == 202
    done = wait_for_job(client, location, {"succeeded", "failed"}, timeout=60)
    assert done["state"] == "succeeded"
    assert done["progress"]["done"] == done["progress"]["total"] == len(before)


def test_a_task_that_kills_its_worker_every_time_ends_dead(migrated, tmp_path, servers):
    """A poison message: each delivery's pool process is killed with SIGKILL mid-task.
    Celery requeues it each time; Postgres counts the deliveries and gives up."""
    poisoned = app_on_redis_db(migrated, 2)
    broker = current_settings(poisoned).broker_url
    process, _ = processes.start_worker(
        servers.database_url, broker, tmp_path, "victim", JOB_MAX_REDELIVERIES="2"
    )
    client = keyed_client(poisoned)
    try:
        location = client.post("/jobs/slow-add", json={"a": 1, "b": 2}).headers["Location"]
        for attempt in (1, 2, 3):
            wait_until(
                lambda n=attempt: (
                    (job := client.get(location).get_json())["state"] == "running"
                    and job["attempts"] == n
                ),
                30,
                f"delivery {attempt}",
            )
            for child in processes.pool_processes(process):
                child.kill()
        dead = wait_for_job(client, location, {"dead", "succeeded", "failed"})
    finally:
        processes.stop(process)
    assert dead["state"] == "dead"
    assert dead["attempts"] == 4
    assert "deliveries" in dead["error"]
    assert dead["result"] is None
