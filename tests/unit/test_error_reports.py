"""Without SENTRY_DSN error reports cost nothing; with it, sentry-sdk reports only what the
stack hands it (tests/system/test_error_reports.py sends and counts the reports)."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

START_AND_REPORT = (
    "import sys;"
    "import tasks.job_lifecycle, web.error_handler;"
    "from tasks.observability import error_reports;"
    "from tasks.settings import Settings;"
    "error_reports.start(Settings.from_environ({{'APP_ENV': 'test', {dsn}}}), 'web');"
    "error_reports.report(RuntimeError('a bug'), job_id='j');"
)


def run(probe: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_without_a_dsn_sentry_sdk_is_not_even_imported():
    probe = START_AND_REPORT.format(dsn="") + "print('sentry_sdk' in sys.modules)"
    assert run(probe) == "False"


def test_with_a_dsn_no_integration_reports_by_itself():
    """sentry-sdk's logging integration would make an event of every ERROR line, its Celery
    integration one of every retry: only the one that sends what is queued at exit is on."""
    # Port 9 (discard): nothing answers, and the report is dropped at exit.
    dsn = "'SENTRY_DSN': 'http://public@127.0.0.1:9/1'"
    probe = (
        START_AND_REPORT.format(dsn=dsn)
        + "import sentry_sdk; print(sorted(sentry_sdk.get_client().integrations))"
    )
    assert run(probe) == "['atexit']"
