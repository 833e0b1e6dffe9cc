"""`make run` (python -m devstack) as a user runs it: the stack comes up and answers, a
process or server killed outright comes back and the stack works again, and Ctrl-C
leaves nothing behind. One stack for the module; the Ctrl-C test stops it, so it is last."""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import psycopg2
import pytest
import redis
import requests

from devstack.supplier import offer
from local_servers import free_port, wait_until
from tests import processes
from tests.auth import KeyedHttp

pytestmark = pytest.mark.system

FLOWER_AUTH = ("admin", "test-password")
USERS_ENV_FILE = "# The user's own settings\nMAIL_FROM=Shop <shop@example.com>\n"


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    log: Path
    web: str
    flower: str

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def http(self) -> KeyedHttp:
        """HTTP with the development key make run printed."""
        [key] = re.findall(r"^  API key  (\S+)", self.output(), re.M)
        return KeyedHttp(key)

    def child(self, matches: Callable[[psutil.Process], bool]) -> psutil.Process | None:
        """The supervisor's one direct child that `matches`, if it is running."""
        for child in psutil.Process(self.process.pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and matches(child):
                    return child
            except psutil.NoSuchProcess:
                pass
        return None

    def family(self) -> list[psutil.Process]:
        supervisor = psutil.Process(self.process.pid)
        return [supervisor, *supervisor.children(recursive=True)]

    def kill_and_wait_for_restart(
        self, name: str, matches: Callable[[psutil.Process], bool]
    ) -> psutil.Process:
        """SIGKILL the child that `matches`; return its replacement, once the supervisor
        said it restarts `name` and a new one runs."""
        line = re.compile(rf"^{re.escape(name)} exited on SIGKILL; restarting in \d+s", re.M)
        seen = len(line.findall(self.output()))
        victim = self.child(matches)
        assert victim is not None, f"no {name} process among {self.family()}"
        victim.kill()
        wait_until(
            lambda: len(line.findall(self.output())) > seen,
            30,
            f"the supervisor to say it restarts {name}",
            interval=0.2,
        )

        def replacement() -> psutil.Process | None:
            found = self.child(matches)
            return found if found is not None and found.pid != victim.pid else None

        return wait_until(replacement, 60, f"a new {name} process", interval=0.2)


def cmdline_has(part: str) -> Callable[[psutil.Process], bool]:
    return lambda process: part in process.cmdline()


def named(name: str) -> Callable[[psutil.Process], bool]:
    return lambda process: process.name() == name


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    scratch = tmp_path_factory.mktemp("make-run")
    web_port, flower_port = free_port(), free_port()
    env = processes.service_environment(
        "",
        "",
        APP_ENV="development",
        DEVSTACK_DATA_DIR=str(scratch / "data"),
        DEV_POSTGRES_PORT=str(free_port()),
        DEV_REDIS_PORT=str(free_port()),
        PORT=str(web_port),
        FLOWER_PORT=str(flower_port),
        FLOWER_BASIC_AUTH=":".join(FLOWER_AUTH),
        SMTP_HOST="",
        SMTP_PORT=str(free_port()),
        SUPPLIER_API_URL="",
        DEV_SUPPLIER_PORT=str(free_port()),
    )
    # make run's folder (where the repository's root would be): a .env of the user's own,
    # and the .flaskenv that names the app.
    (scratch / ".env").write_text(USERS_ENV_FILE)
    (scratch / ".flaskenv").write_text((processes.ROOT / ".flaskenv").read_text())
    log = scratch / "run.log"
    supervisor = processes.start([sys.executable, "-m", "devstack"], env, scratch, log)
    running = Stack(
        supervisor, log, f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{flower_port}"
    )
    family: list[psutil.Process] = []
    try:
        wait_until(
            lambda: "The stack is up" in running.output() or supervisor.poll() is not None,
            90,
            "make run to bring the stack up",
            interval=0.2,
        )
        assert supervisor.poll() is None, running.output()
        yield running
    finally:
        if supervisor.poll() is None:
            family = running.family()
        processes.stop(supervisor)
        for process in family:
            if process.is_running():
                process.kill()


def post_product(stack: Stack, sku: str) -> dict[str, Any]:
    created = stack.http.post(
        f"{stack.web}/products", json={"sku": sku, "name": sku, "price": "5.00"}, timeout=10
    )
    assert created.status_code == 201, created.text
    return created.json()


def finished_job(stack: Stack, location: str, timeout: float = 60) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        body = requests.get(f"{stack.web}{location}", timeout=10).json()
        return body if body["state"] in {"succeeded", "failed", "dead", "cancelled"} else None

    return wait_until(finished, timeout, f"{location} to finish", interval=0.2)


def test_every_process_type_runs_and_the_api_answers(stack):
    assert requests.get(f"{stack.web}/readyz", timeout=10).json()["status"] == "ready"
    refused = requests.post(f"{stack.web}/products", json={"sku": "X"}, timeout=10)
    assert refused.status_code == 401
    product = post_product(stack, "R-1")
    assert requests.get(f"{stack.web}/products/{product['id']}", timeout=10).status_code == 200
    names = " ".join(" ".join(p.cmdline()) for p in stack.family())
    for part in ("postgres", "redis-server", "gunicorn", "worker", "beat", "flower", "aiosmtpd"):
        assert part in names
    assert "devstack.supplier" in names


def test_flower_asks_for_a_password_and_shows_both_workers_as_their_own_nodes(stack):
    assert requests.get(f"{stack.flower}/api/workers", timeout=10).status_code == 401

    def both_nodes() -> set[str] | None:
        response = requests.get(
            f"{stack.flower}/api/workers", params={"refresh": 1}, auth=FLOWER_AUTH, timeout=30
        )
        response.raise_for_status()
        names = {node.partition("@")[0] for node in response.json()}
        return names if len(names) >= 2 else None

    assert wait_until(both_nodes, 60, "Flower to list two workers", interval=1) == {
        "worker",
        "io",
    }


def test_the_development_key_reads_the_web_metrics_and_flower_serves_the_queues(stack):
    assert requests.get(f"{stack.web}/metrics", timeout=10).status_code == 401
    web = stack.http.get(f"{stack.web}/metrics", timeout=10)
    assert web.status_code == 200, web.text
    assert "products_http_requests_total" in web.text
    flower = requests.get(f"{stack.flower}/metrics", auth=FLOWER_AUTH, timeout=30)
    assert flower.status_code == 200
    assert 'products_metrics_collector_up{source="postgres"} 1.0' in flower.text
    assert 'celery_queue_length{queue="io"}' in flower.text


def test_a_product_syncs_from_the_local_supplier(stack):
    product = post_product(stack, "SYNC-1")
    accepted = stack.http.post(f"{stack.web}/products/{product['id']}/sync", timeout=10)
    assert accepted.status_code == 202, accepted.text
    job = finished_job(stack, accepted.headers["Location"])
    assert (job["state"], job["result"]["updated"]) == ("succeeded", 1), job
    synced = requests.get(f"{stack.web}/products/{product['id']}", timeout=10).json()
    expected = offer("SYNC-1")
    assert (synced["price"], synced["stock"]) == (expected["price"], expected["stock"])


@pytest.mark.parametrize(
    ("name", "matches"),
    [("beat", cmdline_has("beat")), ("io", cmdline_has("--hostname=io@%h"))],
    ids=["beat", "io"],
)
def test_a_killed_service_process_is_restarted(stack, name, matches):
    stack.kill_and_wait_for_restart(name, matches)


def test_a_killed_redis_is_restarted_and_jobs_run_again(stack):
    exits_before = stack.output().count(" exited ")
    stack.kill_and_wait_for_restart("Redis", named("redis-server"))

    def accepted() -> str | None:
        response = stack.http.post(f"{stack.web}/jobs/slow-add", json={"a": 1, "b": 2}, timeout=10)
        return response.headers["Location"] if response.status_code == 202 else None

    location = wait_until(accepted, 30, "the API to take jobs again", interval=0.2)
    job = finished_job(stack, location)
    assert (job["state"], job["result"]) == ("succeeded", 3), job
    # Only Redis went down: every other process rode it out (beat included).
    assert stack.output().count(" exited ") == exits_before + 1, stack.output()


def test_a_killed_postgres_is_restarted_once_its_old_processes_are_gone_and_the_api_recovers(
    stack,
):
    """One of the old postmaster's processes, stopped, keeps its shared memory attached:
    PostgreSQL refuses to start until it is gone, and the supervisor keeps trying."""
    postmaster = stack.child(named("postgres"))
    assert postmaster is not None
    lingering = postmaster.children()[0]
    lingering.suspend()
    try:
        postmaster.kill()
        wait_until(
            lambda: re.search(
                r"^PostgreSQL exited with code 1; restarting in", stack.output(), re.M
            ),
            60,
            "the supervisor to retry a PostgreSQL that refused to start",
            interval=0.2,
        )
    finally:
        lingering.kill()
    assert "PostgreSQL exited on SIGKILL; restarting in" in stack.output()

    def ready() -> bool:
        try:
            return requests.get(f"{stack.web}/readyz", timeout=10).status_code == 200
        except requests.RequestException:
            return False

    wait_until(ready, 90, "/readyz to answer 200 again", interval=0.2)
    post_product(stack, "AFTER-PG-RESTART")
    restarted = stack.child(named("postgres"))
    assert restarted is not None and restarted.pid != postmaster.pid


def test_its_servers_want_passwords_and_the_api_runs_as_the_app_role(stack):
    banner = stack.output()
    [database_url] = re.findall(r"^  Postgres (\S+)", banner, re.M)
    [redis_url] = re.findall(r"^  Redis    (\S+)", banner, re.M)
    database, broker = urlsplit(database_url), urlsplit(redis_url)
    assert database.username == "products_app" and database.password
    for user in ("postgres", "products_app"):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(
                host="127.0.0.1", port=database.port, user=user, dbname="products"
            ).close()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=broker.port, socket_timeout=5).ping()


def test_a_second_terminal_finds_its_servers_in_env_and_the_tutorial_works(stack):
    """The tutorial's `flask shell` in another terminal, with no DATABASE_URL or REDIS_URL of
    its own, reaches make run's password-protected servers through .env, whose own lines
    make run kept below its block."""
    env_file = stack.log.parent / ".env"
    assert env_file.read_text().endswith(USERS_ENV_FILE)
    result = subprocess.run(
        ["flask", "shell"],
        input="from tasks import very_slow_add; job = very_slow_add.delay(5, 7); job.wait()\n",
        env=processes.service_environment("", ""),
        cwd=stack.log.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert ">>> 12\n" in result.stdout


def test_ctrl_c_stops_everything_and_leaves_nothing_behind(stack):
    family = stack.family()
    assert len(family) > 10
    os.kill(stack.process.pid, signal.SIGINT)
    assert stack.process.wait(60) == 0, stack.output()
    _, alive = psutil.wait_procs(family, timeout=30)
    assert alive == [], f"left behind: {alive}"
