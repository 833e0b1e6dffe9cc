"""One logging set-up for every process of the stack: web (gunicorn's own lines included),
worker, io, beat, Flower and release.

A line is JSON (LOG_FORMAT=json, the default in production) or readable text (make run),
names the process type, and the request, job and task it is about when there is one
(tasks/observability/ids.py). What a process rides out, or does by design, is not an ERROR: an
operator's alert on ERROR must not fire on every Redis restart (see ExpectedOutcomes).
"""

import logging
import logging.config
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pythonjsonlogger.json import JsonFormatter

IDS = ("request_id", "job_id", "task_id", "trace_id")
# The fields of gunicorn's access line (its "atoms") that a JSON line gives by name.
ACCESS_FIELDS = {"m": "method", "U": "path", "s": "status", "B": "bytes", "L": "duration_s"}


class LogSettings(BaseSettings):
    """The settings of logging: part of tasks.settings.Settings, and read alone by gunicorn's
    master, which must not import the app."""

    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    process_type: str | None = Field(
        None,
        description="What this process is (web, worker, io, beat, flower, release): "
        "set by its start script, named on every log line; unset, the process leaves logging alone",
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="json (one object a line, for machines) or text (make run's)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="The least level logged"
    )


def _no_ids() -> dict[str, str]:
    return {}


class ContextFilter(logging.Filter):
    """Puts the process type and the ids of what the process is doing on every record."""

    def __init__(self, process_type: str, ids: Callable[[], dict[str, str]] = _no_ids) -> None:
        super().__init__()
        self.process_type = process_type
        self.ids = ids

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_type = self.process_type
        ids = self.ids()
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            atoms = record.args
            ids.setdefault("request_id", atoms.get("{x-request-id}o", "-"))
            for atom, name in ACCESS_FIELDS.items():
                setattr(record, name, atoms.get(atom))
        elif "task_id" not in ids and isinstance(data := getattr(record, "data", None), dict):
            # Celery's consumer ("Task ... received") names the task only in its data.
            from tasks.observability.received_ids import ids_of_received

            ids.update(ids_of_received(str(data.get("id"))))
        for name in IDS:
            if ids.get(name) not in (None, "", "-"):
                setattr(record, name, ids[name])
        return True


# Records that say something went wrong which the stack rides out by design, keyed by their
# message template: (the level they get, what happens next).
RIDDEN_OUT: dict[str, tuple[int, str | None]] = {
    # kombu, when Redis is gone as a worker acks or rejects a message: Redis still holds it
    # and delivers it again after the visibility timeout; deliveries are counted and tasks
    # idempotent.
    "Couldn't reject %r, reason: %r": (
        logging.WARNING,
        "Redis delivers the message again after the visibility timeout",
    ),
    "Couldn't ack %r, reason:%r": (
        logging.WARNING,
        "Redis delivers the message again after the visibility timeout",
    ),
    # celery.bootsteps, when a step (Gossip, Mingle) cannot restart during a Redis outage:
    # the worker goes on without it until the next reconnection.
    "Error on %s %s: %r": (logging.WARNING, "the worker goes on"),
    # celery's consumer, while Redis is unreachable: it says itself when it tries again. A
    # worker that stays cut off is for the alerts (a worker gone, a queue that grows).
    "consumer: Cannot connect to %s: %s.\n%s\n": (logging.WARNING, None),
}


class ExpectedOutcomes(logging.Filter):
    """Gives the records of RIDDEN_OUT their level, without their traceback, and says what
    happens next."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (known := RIDDEN_OUT.get(str(record.msg))) and record.levelno > known[0]:
            level, next_step = known
            if next_step:
                record.msg = f"{record.msg}; {next_step}"
            record.levelno, record.levelname = level, logging.getLevelName(level)
            record.exc_info = record.exc_text = None
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL [process] logger: message [request_id=… job_id=…]`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s [%(process_type)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        named = " ".join(f"{n}={v}" for n in IDS if (v := getattr(record, n, None)))
        if not named:
            return line
        head, newline, rest = line.partition("\n")
        return f"{head} [{named}]{newline}{rest}"


def json_formatter() -> logging.Formatter:
    """One JSON object a line: time, level, logger, message, process type, the ids, and what
    else the record carries (gunicorn's access fields, Celery's task data)."""
    return JsonFormatter(
        "{levelname}{name}{message}{process_type}",
        style="{",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",  # ISO 8601, UTC
    )


def logging_config(
    process_type: str,
    log_format: str,
    level: str | int,
    ids: Callable[[], dict[str, str]] = _no_ids,
) -> dict[str, Any]:
    """The dictConfig of a process. gunicorn's master takes it as `logconfig_dict`; so its
    loggers are named here, and lead to the root's one handler."""
    formatter = {"()": json_formatter} if log_format == "json" else {"()": TextFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": ContextFilter, "process_type": process_type, "ids": ids},
            "expected": {"()": ExpectedOutcomes},
        },
        "formatters": {"line": formatter},
        "handlers": {
            # The process's real stderr: Celery later replaces sys.stdout and sys.stderr with
            # proxies that log what is printed, which would then loop.
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.__stderr__",
                "formatter": "line",
                "filters": ["expected", "context"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            **{
                name: {"level": level, "handlers": [], "propagate": True}
                for name in ("gunicorn.error", "gunicorn.access", "celery", "alembic")
            },
            # Lines of every process that loads the migrations, not only release's.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def configure_logging(
    process_type: str,
    log_format: str,
    level: str | int,
    ids: Callable[[], dict[str, str]] | None = None,
) -> None:
    if ids is None:
        from tasks.observability.ids import current_ids

        ids = current_ids
    logging.config.dictConfig(logging_config(process_type, log_format, level, ids))
    # Python's warnings (Celery's about running as root, deprecations) as records, not as
    # text of their own on stderr.
    logging.captureWarnings(True)
