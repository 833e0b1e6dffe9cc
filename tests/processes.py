"""Running the services' own start commands as processes, the way deployments do."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from tests.settings import TEST_ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"


def service_environment(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CELERY_", "FLOWER_", "FLASK_")) and key not in {"PORT"}
    }
    env.update(
        TEST_ENVIRONMENT,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
        # Job types of the tests' own (tests/outside_jobs.py), for CELERY_IMPORTS to name.
        PYTHONPATH=str(ROOT),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.update(extra)
    return env


def start(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_worker(
    database_url: str, redis_url: str, scratch: Path, name: str, **settings: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """A real Celery worker process, started by the worker service's own start script."""
    from local_servers import wait_until

    log = scratch / f"{name}.log"
    process = start(
        [str(SERVICES / "worker" / "start")],
        service_environment(database_url, redis_url, **settings),
        cwd=scratch,
        log=log,
    )
    wait_until(
        lambda: process.poll() is None and "ready." in log.read_text(),
        60,
        f"worker {name} to start (log: {log})",
        interval=0.2,
    )
    return process, log


@contextmanager
def serving(
    command: list[str], env: dict[str, str], cwd: Path, log: Path, ready_url: str, what: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` running until `ready_url` answers, and stopped when the block ends."""
    from local_servers import answers, wait_until

    process = start(command, env, cwd, log)
    try:
        wait_until(
            lambda: process.poll() is None and answers(ready_url),
            60,
            f"{what} to answer (log: {log})",
            interval=0.2,
        )
        yield process
    finally:
        stop(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and all its pool processes at once: nothing gets to clean up."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def pool_processes(worker: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The prefork pool's child processes of a worker (not the worker itself)."""
    worker_main = psutil.Process(worker.pid)
    if "celery" not in " ".join(worker_main.cmdline()):  # the start script exec'd celery
        raise RuntimeError(f"{worker.pid} is not a celery worker")
    return worker_main.children()
