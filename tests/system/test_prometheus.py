"""Prometheus itself (Debian's `prometheus` package; CI installs it) against the stack's
real processes, with the stack's own files (services/prometheus/): every target is scraped
with its credentials, the alert rules pass their unit tests, and every panel of the
dashboard finds series."""

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml

from local_servers import free_port, wait_until
from tasks.api_keys import JOBS, METRICS
from tests import processes
from tests.auth import KeyedHttp, make_key
from tests.flower_server import FLOWER_PASSWORD, FLOWER_USER, FlowerServer, flower_server
from tests.integration.helpers import redis_db
from tests.web_server import WebServer, web_server

PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")
pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(
        not (PROMETHEUS and PROMTOOL),
        reason="prometheus and promtool are not installed: apt-get install prometheus "
        "(Debian's package; .ci/run installs it)",
    ),
]

FILES = processes.SERVICES / "prometheus"
REDIS_DB = 15
# Grafana's variable, as Grafana would set it for a 15 s scrape interval and a short range.
RATE_INTERVAL = "1m"


@dataclass
class Stack:
    web: WebServer
    flower: FlowerServer


@pytest.fixture(scope="module")
def stack(servers, migrated, tmp_path_factory) -> Iterator[Stack]:
    scratch = tmp_path_factory.mktemp("observed")
    redis_url = redis_db(migrated, REDIS_DB)
    worker, _ = processes.start_worker(servers.database_url, redis_url, scratch, "observed")
    try:
        with (
            web_server(servers.database_url, redis_url, scratch, WEB_CONCURRENCY="2") as web,
            flower_server(servers.database_url, redis_url, scratch) as flower,
        ):
            yield Stack(web, flower)
    finally:
        processes.stop(worker)
        redis.Redis.from_url(redis_url).flushdb()


def configure(folder: Path, web: str, flower: str) -> Path:
    """The stack's Prometheus files, with targets at these addresses (host:port)."""
    config = folder / "config"
    shutil.copytree(FILES, config, ignore=shutil.ignore_patterns("secrets", "dashboard.json"))
    for job, target in (("web", web), ("flower", flower)):
        (config / "targets" / f"{job}.yml").write_text(yaml.safe_dump([{"targets": [target]}]))
    return config


@pytest.fixture
def key(app) -> str:
    """What Prometheus scrapes the web with, and the tests start jobs with."""
    return make_key(app, METRICS, JOBS, name="prometheus")


@pytest.fixture
def prometheus(stack, key, tmp_path) -> Iterator[str]:
    """services/prometheus/start, as compose runs it, on a port of its own."""
    web, flower = (url.removeprefix("http://") for url in (stack.web.url, stack.flower.url))
    config = configure(tmp_path, web, flower)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "prometheus.log"
    env = {
        "PATH": os.environ["PATH"],
        "PROMETHEUS_API_KEY": key,
        "FLOWER_BASIC_AUTH": f"{FLOWER_USER}:{FLOWER_PASSWORD}",
    }
    with processes.serving(
        [
            str(config / "start"),
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        env,
        tmp_path,
        log,
        f"{url}/-/ready",
        "Prometheus",
    ):
        yield url


def api(prometheus: str, path: str, **params: str) -> Any:
    response = requests.get(f"{prometheus}/api/v1/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def targets_up(prometheus: str) -> dict[str, str]:
    active = api(prometheus, "targets", state="active")["activeTargets"]
    return {target["labels"]["job"]: target["health"] for target in active}


def panel_queries() -> dict[str, str]:
    dashboard = json.loads((FILES / "dashboard.json").read_text())
    return {
        f"{panel['title']} ({target['refId']})": target["expr"].replace(
            "$__rate_interval", RATE_INTERVAL
        )
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }


def some_traffic(stack: Stack, http: KeyedHttp) -> None:
    for path in ("/healthz", "/products", "/products/1", "/no/such/page"):
        http.get(f"{stack.web.url}{path}", timeout=10)


# Beyond the suite's 120 s: the processes start, and a first scrape of each target and two of
# each rate's window take up to about a minute (scrape_interval 15 s) before the waits below.
@pytest.mark.timeout(400)
def test_prometheus_scrapes_the_stack_and_every_panel_finds_series(stack, key, prometheus):
    http = KeyedHttp(key)
    for min_stock in range(3):
        response = http.post(
            f"{stack.web.url}/reports/stock-value", json={"min_stock": min_stock}, timeout=10
        )
        assert response.status_code == 202, response.text
    wait_until(
        lambda: targets_up(prometheus) == {"web": "up", "flower": "up"},
        90,
        "both targets to be up (each scraped with its credentials)",
        interval=0.5,
    )

    def empty_panels() -> list[str]:
        some_traffic(stack, http)
        return [
            name
            for name, query in panel_queries().items()
            if not api(prometheus, "query", query=query)["result"]
        ]

    missing: list[str] = []

    def every_panel_has_series() -> bool:
        missing[:] = empty_panels()
        return not missing

    try:
        wait_until(every_panel_has_series, 120, "every panel's query to find series", interval=2)
    except TimeoutError:
        pytest.fail(f"panels without series: {missing}")
    assert len(panel_queries()) >= 15


def test_the_alert_rules_pass_their_unit_tests():
    result = subprocess.run(
        [PROMTOOL, "test", "rules", str(FILES / "rules" / "alerts.test.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_configuration_is_valid_with_its_credentials_and_targets(tmp_path):
    config = configure(tmp_path, "127.0.0.1:8000", "127.0.0.1:5555")
    (config / "secrets").mkdir()
    for name in ("web-api-key", "flower-password"):
        (config / "secrets" / name).write_text("secret")
    result = subprocess.run(
        [PROMTOOL, "check", "config", str(config / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
