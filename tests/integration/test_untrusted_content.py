"""Celery accepts JSON only: a pickled message would be code execution, so the worker
refuses it without unpickling, and nothing of it runs."""

import os
import pickle
import uuid

import pytest
from kombu import Connection, Exchange, Producer

from local_servers import wait_until
from tasks.settings import current_settings

pytestmark = pytest.mark.integration


class Payload:
    """Unpickling this touches `path`: proof that the message was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mknod, (self.path,))


def test_a_pickled_task_message_is_refused_unread(app, worker, tmp_path):
    marker = tmp_path / "unpickled"
    task_id = str(uuid.uuid4())
    body = pickle.dumps(((Payload(str(marker)),), {}, {}))
    headers = {"lang": "py", "task": "tasks.very_slow_add", "id": task_id, "retries": 0}
    with Connection(current_settings(app).broker_url) as connection:
        Producer(connection).publish(
            body,
            exchange=Exchange("celery", type="direct"),
            routing_key="celery",
            headers=headers,
            content_type="application/x-python-serialize",
            content_encoding="binary",
        )
    refusal = "Refusing to deserialize untrusted content of type pickle"
    wait_until(lambda: refusal in worker.read_text(), 30, "the worker to refuse the message")
    assert not marker.exists(), "the worker unpickled the message"
    assert f"Task tasks.very_slow_add[{task_id}] received" not in worker.read_text()
