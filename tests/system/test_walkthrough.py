"""The tutorial the stack grew from, word for word, from the repository root."""

import subprocess

import pytest

from local_servers import wait_until
from tests import processes
from tests.integration.helpers import redis_db

pytestmark = pytest.mark.system


def test_worker_banner_lists_very_slow_add(servers, migrated, tmp_path):
    """The tutorial's own command (the start script keeps the banner out of JSON logs)."""
    log = tmp_path / "worker.log"
    process = processes.start(
        ["celery", "-A", "tasks.celery", "worker", "--loglevel=INFO"],
        # On a Redis database of its own: it takes no other test's work.
        processes.service_environment(servers.database_url, redis_db(migrated, 14)),
        cwd=processes.ROOT,
        log=log,
    )
    try:
        wait_until(lambda: "ready." in log.read_text(), 60, f"the worker to start (log: {log})")
    finally:
        processes.stop(process)
    banner = log.read_text()
    assert "[tasks]" in banner
    assert "  . tasks.very_slow_add" in banner.split("[tasks]", 1)[1]


def test_flask_shell_delay_and_wait_gives_12(servers, worker):
    result = subprocess.run(
        ["flask", "shell"],
        input="from tasks import very_slow_add; job = very_slow_add.delay(5, 7); job.wait()\n",
        env=processes.service_environment(servers.database_url, servers.redis_url),
        cwd=processes.ROOT,  # where .flaskenv names the app
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert ">>> 12\n" in result.stdout
