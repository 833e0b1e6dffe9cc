import json
import logging
import sys

import pytest

from tasks.observability.logs import ContextFilter, ExpectedOutcomes, TextFormatter, json_formatter

pytestmark = pytest.mark.unit


def record(name: str, level: int, msg: str, args: object = None) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)  # type: ignore[arg-type]


def test_what_the_stack_rides_out_is_a_warning_saying_what_happens_next():
    try:
        raise ConnectionError("Redis is gone")
    except ConnectionError:
        line = logging.LogRecord(
            "celery.worker.request", logging.CRITICAL, __file__, 1,
            "Couldn't reject %r, reason: %r", ("d1", "network"), sys.exc_info(),
        )  # fmt: skip
    ExpectedOutcomes().filter(line)
    assert (line.levelname, line.exc_info) == ("WARNING", None)
    assert line.getMessage().endswith(
        "Redis delivers the message again after the visibility timeout"
    )


def test_other_errors_keep_their_level():
    line = record("tasks", logging.ERROR, "Couldn't save %s", ("x",))
    ExpectedOutcomes().filter(line)
    assert line.levelname == "ERROR"


def test_a_json_line_names_the_process_and_the_ids_known():
    line = record("tasks", logging.INFO, "hello %s", ("there",))
    ContextFilter("worker", lambda: {"request_id": "r-1", "job_id": "j-1"}).filter(line)
    parsed = json.loads(json_formatter().format(line))
    assert parsed["message"] == "hello there"
    assert (parsed["process_type"], parsed["request_id"], parsed["job_id"]) == (
        "worker",
        "r-1",
        "j-1",
    )
    assert "task_id" not in parsed


def test_gunicorns_access_line_gives_its_fields_and_the_responses_request_id():
    atoms = {
        "m": "GET",
        "U": "/products",
        "s": "200",
        "B": 12,
        "L": "0.01",
        "{x-request-id}o": "r-2",
    }
    line = record("gunicorn.access", logging.INFO, "%(m)s %(U)s", atoms)
    ContextFilter("web").filter(line)
    parsed = json.loads(json_formatter().format(line))
    assert (parsed["method"], parsed["path"], parsed["status"]) == ("GET", "/products", "200")
    assert parsed["request_id"] == "r-2"


def test_a_text_line_names_the_ids_after_the_message():
    line = record("tasks", logging.INFO, "hello", None)
    ContextFilter("web", lambda: {"request_id": "r-3"}).filter(line)
    assert TextFormatter().format(line).endswith("INFO [web] tasks: hello [request_id=r-3]")
