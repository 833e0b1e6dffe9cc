"""Error reports to Sentry, when SENTRY_DSN is set: every 500 of the API and every job that
ends failed or dead, once each, tagged with the ids of what failed (tasks.observability.ids).

The reports are sent from where those ends are decided (web.error_handler,
tasks.job_lifecycle), not by sentry-sdk's integrations: its Celery integration reports what
a task raises, retries too, and its logging integration makes an event of every ERROR line,
a second report of each 500 and each failed task (both are logged). So the only integration
is the one that sends what is still queued when the process exits. Without SENTRY_DSN
nothing here imports sentry_sdk.

`start` runs in each process that serves requests or runs tasks, after any fork: a client's
sending thread does not survive one (web.gunicorn_conf, tasks.celery).
"""

import os
from typing import TYPE_CHECKING

from tasks.observability.ids import current_ids

if TYPE_CHECKING:
    from tasks.settings import Settings

# The process that started reporting (its pid), None while it has not.
_started_in: int | None = None


def start(settings: "Settings", process: str) -> None:
    """Report from this process (`process`: web, worker or beat, its tag) if SENTRY_DSN is set."""
    global _started_in
    if settings.sentry_dsn is None or _started_in == os.getpid():
        return
    import sentry_sdk
    from sentry_sdk.integrations.atexit import AtexitIntegration

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.app_env,
        default_integrations=False,
        integrations=[AtexitIntegration()],
        traces_sample_rate=None,
    )
    sentry_sdk.get_global_scope().set_tag("process", process)
    _started_in = os.getpid()


def report(error: BaseException | str, **tags: str) -> None:
    """Report `error` (an exception, with its traceback, or what went wrong in words), tagged
    with the ids known here and `tags`; nothing when this process does not report."""
    if _started_in is None:
        return
    import sentry_sdk

    tagged = {**current_ids(), **tags}
    if isinstance(error, BaseException):
        sentry_sdk.capture_exception(error, tags=tagged)
    else:
        sentry_sdk.capture_message(error, level="error", tags=tagged)
