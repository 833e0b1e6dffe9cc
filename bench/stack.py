"""The stack's own Celery app (tasks.celery: the same configuration and task class as
every worker), with a job that does nothing, to measure what the stack adds to a task: sent
by start_job it is a job (its row, the ledger); sent plainly, a task that touches nothing.

    celery -A bench.stack worker --concurrency 2 --pool prefork
"""

from typing import Any

from bench.peers.protocol import mark as push_marker
from tasks import JobContext, job_task
from tasks.celery import app, flask_app

__all__ = ["app", "flask_app", "mark", "noop"]


@job_task(name="bench.noop")
def noop(job: JobContext, **_: Any) -> None:
    return None


@job_task(name="bench.mark")
def mark(job: JobContext, url: str, key: str) -> None:
    """The latency job of bench/peers/ (bench.peers.protocol.mark)."""
    push_marker(url, key)
