"""Flower follows every job from the worker's task events, which the worker sends in batches
(tasks/worker_events.py): each job is received, started and succeeded there, also one that
ends just as its worker is told to stop."""

import signal
from typing import Any

import pytest
import requests

from local_servers import wait_until
from tasks.extensions import db
from tasks.jobs import start_job
from tasks.models import Job, JobState
from tasks.work.stock_report import stock_value_report
from tests import processes
from tests.flower_server import FLOWER_PASSWORD, FLOWER_USER, FlowerServer
from tests.integration.helpers import app_on_redis

pytestmark = pytest.mark.system

REDIS_DB = 10


def task_seen_by_flower(flower: FlowerServer, task_id: str) -> dict[str, Any] | None:
    response = requests.get(
        f"{flower.url}/api/task/info/{task_id}", auth=(FLOWER_USER, FLOWER_PASSWORD), timeout=10
    )
    return response.json() if response.status_code == 200 else None


def succeeded_in_flower(flower: FlowerServer, task_id: str) -> dict[str, Any]:
    def succeeded() -> dict[str, Any] | None:
        task = task_seen_by_flower(flower, task_id)
        return task if task and task.get("state") == "SUCCESS" else None

    return wait_until(succeeded, 30, f"Flower to see task {task_id} succeed", interval=0.2)


def worker_online(flower: FlowerServer) -> bool:
    """Whether Flower has had the worker's events: it is capturing them."""
    return any(
        line.startswith("flower_worker_online{") and line.endswith(" 1.0")
        for line in flower.metrics().splitlines()
    )


def test_flower_sees_each_job_received_started_and_succeeded(
    app, migrated, servers, redis_url, flower, tmp_path
):
    worker, _ = processes.start_worker(servers.database_url, redis_url, tmp_path, "events-worker")
    try:
        wait_until(lambda: worker_online(flower), 30, "Flower to hear from the worker")
        api = app_on_redis(migrated, redis_url)
        with api.app_context():
            jobs = [start_job(stock_value_report, {"min_stock": n})[0] for n in range(5)]
        for job in jobs:
            task = succeeded_in_flower(flower, str(job.id))
            assert task["name"] == stock_value_report.name
            assert task["received"] <= task["started"] <= task["succeeded"], task
    finally:
        processes.stop(worker)


def test_the_events_of_a_job_that_ends_as_its_worker_stops_reach_flower(
    app, migrated, servers, redis_url, flower, tmp_path
):
    worker, _ = processes.start_worker(servers.database_url, redis_url, tmp_path, "stopping-worker")
    api = app_on_redis(migrated, redis_url)
    try:
        wait_until(lambda: worker_online(flower), 30, "Flower to hear from the worker")
        with api.app_context():
            job, _ = start_job(stock_value_report, {"min_stock": 0})

        def done() -> bool:
            with api.app_context():
                state = db.session.scalar(db.select(Job.state).where(Job.id == job.id))
                db.session.rollback()
            return state == JobState.SUCCEEDED

        wait_until(done, 30, "the job to succeed", interval=0.01)
        # Told to stop as soon as the job is done, as Docker tells a container's first
        # process: its last events are still in the worker's buffer, and leave before it does.
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        processes.stop(worker)
    succeeded_in_flower(flower, str(job.id))
