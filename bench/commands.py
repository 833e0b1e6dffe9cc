"""The command lines of the workers the benchmark starts, in this environment. Light on
purpose: the harness and the peers' worker modules both import it."""

import sys
from pathlib import Path


def celery_worker(app: str, *options: str) -> list[str]:
    """A Celery worker of `app`, as bench.harness.worker starts one."""
    return [sys.executable, "-m", "celery", "-A", app, "worker", "--loglevel=INFO", *options]


def script(name: str) -> str:
    """A console script of this environment (rq, procrastinate, dramatiq)."""
    return str(Path(sys.executable).parent / name)
