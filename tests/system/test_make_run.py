"""`make run`'s supervisor, as a user runs it: servers, migrations, web, worker, Flower, Ctrl-C."""

import signal
import sys

import psutil
import pytest
import requests

from devstack.servers import free_port, wait_until
from tests import processes

pytestmark = pytest.mark.system


def test_the_stack_comes_up_answers_and_leaves_nothing_behind_on_ctrl_c(tmp_path):
    web_port, flower_port = free_port(), free_port()
    env = processes.service_environment(
        "",
        "",
        APP_ENV="development",
        DEVSTACK_DATA_DIR=str(tmp_path / "data"),
        DEV_POSTGRES_PORT=str(free_port()),
        DEV_REDIS_PORT=str(free_port()),
        PORT=str(web_port),
        FLOWER_PORT=str(flower_port),
        FLOWER_BASIC_AUTH="admin:test-password",
        SMTP_PORT=str(free_port()),
    )
    log = tmp_path / "run.log"
    supervisor = processes.start([sys.executable, "-m", "devstack"], env, processes.ROOT, log)
    family: list[psutil.Process] = []
    try:
        wait_until(
            lambda: "The stack is up" in log.read_text() or supervisor.poll() is not None,
            90,
            "make run to bring the stack up",
            interval=0.2,
        )
        assert supervisor.poll() is None, log.read_text()
        web = f"http://127.0.0.1:{web_port}"
        assert requests.get(f"{web}/readyz", timeout=5).json()["status"] == "ready"
        created = requests.post(
            f"{web}/products", json={"sku": "R-1", "name": "Radio", "price": "5.00"}, timeout=5
        )
        assert created.status_code == 201
        assert requests.get(f"{web}/products", timeout=5).json()["total"] == 1

        flower = f"http://127.0.0.1:{flower_port}"
        assert requests.get(f"{flower}/api/workers", timeout=5).status_code == 401
        authed = requests.get(f"{flower}/", auth=("admin", "test-password"), timeout=5)
        assert authed.status_code == 200

        family = [supervisor_process := psutil.Process(supervisor.pid)]
        family += supervisor_process.children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in family)
        for part in (
            "postgres",
            "redis-server",
            "gunicorn",
            "worker",
            "beat",
            "flower",
            "aiosmtpd",
        ):
            assert part in names

        supervisor.send_signal(signal.SIGINT)
        assert supervisor.wait(60) == 0, log.read_text()
        _, alive = psutil.wait_procs(family, timeout=10)
        assert alive == [], f"left behind: {alive}"
    finally:
        processes.stop(supervisor)
        for process in family:
            if process.is_running():
                process.kill()
