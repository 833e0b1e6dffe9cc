import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

APP_MODULES = (
    "flask",
    # tasks.observability.logs alone is imported: the master logs as the app does.
    "tasks.app",
    "tasks.settings",
    "celery",
    "kombu",
    "redis",
    "sqlalchemy",
    "psycopg2",
    "concurrent.futures.thread",
)


def test_what_gunicorns_master_imports_does_not_import_the_app():
    """gunicorn's master imports the settings and the worker class before it forks; gevent
    patches the standard library in each worker, and only what is imported after that is
    cooperative (see web/__init__.py)."""
    probe = (
        "import sys, web, web.gunicorn_conf, web.gunicorn_worker;"
        f"print([m for m in {APP_MODULES!r} if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
