"""The web process's /metrics, as deployed (services/web/start: gunicorn with two workers):
the counts of every worker add up, routes are URL rules, a key with the `metrics` scope is
needed, and the files of a worker that dies are cleaned up."""

import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
import requests

from local_servers import wait_until
from tasks.api_keys import JOBS, METRICS, READ
from tests.auth import make_key
from tests.faults import paused
from tests.integration.helpers import redis_db
from tests.metrics_text import label_values, total
from tests.web_server import WebServer, web_server

pytestmark = pytest.mark.system

REQUESTS = "products_http_requests_total"
# Jobs started here go to a Redis database no worker consumes.
REDIS_DB = 12


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("web-metrics") / "prometheus"


@pytest.fixture(scope="module")
def web(servers, migrated, metrics_dir) -> Iterator[WebServer]:
    redis_url = redis_db(migrated, REDIS_DB)
    with web_server(
        servers.database_url,
        redis_url,
        metrics_dir.parent,
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    ) as server:
        wait_until(lambda: len(workers(server)) == 2, 30, "both gunicorn workers")
        yield server
    redis.Redis.from_url(redis_url).flushdb()


def workers(web: WebServer) -> list[psutil.Process]:
    return psutil.Process(web.process.pid).children()


def scrape(web: WebServer, key: str) -> str:
    response = requests.get(
        f"{web.url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return response.text


def test_the_counts_of_both_workers_add_up(web, app, metrics_dir):
    key = make_key(app, METRICS)
    before = total(scrape(web, key), REQUESTS, method="GET", route="/healthz", status="200")
    first, second = workers(web)
    # Each worker in turn serves half: the other, stopped, accepts nothing meanwhile.
    for serving, stopped in ((first, second), (second, first)):
        with paused(stopped.pid):
            for _ in range(20):
                assert requests.get(f"{web.url}/healthz", timeout=10).status_code == 200
        assert (metrics_dir / f"counter_{serving.pid}.db").exists()

    after = total(scrape(web, key), REQUESTS, method="GET", route="/healthz", status="200")
    assert after - before == 40


def test_routes_are_url_rules_never_raw_paths(web, app):
    key = make_key(app, METRICS)
    requests.get(f"{web.url}/products/12345", timeout=10)
    requests.get(f"{web.url}/no/such/page/67890", timeout=10)
    requests.request("BREW", f"{web.url}/products", timeout=10)
    text = scrape(web, key)

    routes = label_values(text, REQUESTS, "route")
    assert {"/products/<int:product_id>", "<unmatched>", "/metrics"} <= routes
    assert not [route for route in routes if "12345" in route or "67890" in route], routes
    assert total(text, REQUESTS, route="/products/<int:product_id>", status="404") >= 1
    assert total(text, REQUESTS, route="<unmatched>", status="404") >= 1
    assert "BREW" not in label_values(text, REQUESTS, "method")
    assert total(text, REQUESTS, method="other") >= 1
    assert label_values(text, "products_http_request_duration_seconds_count", "route") == routes


def test_a_job_is_counted_when_it_is_started_not_when_it_is_replayed(web, app):
    key = make_key(app, METRICS, JOBS)
    kind = {"kind": "tasks.very_slow_add"}
    before = total(scrape(web, key), "products_jobs_started_total", **kind)
    for _ in range(3):
        response = requests.post(
            f"{web.url}/jobs/slow-add",
            json={"a": 1, "b": 2},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "once"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
    assert total(scrape(web, key), "products_jobs_started_total", **kind) - before == 1


def test_metrics_need_a_key_with_the_metrics_scope(web, app):
    url = f"{web.url}/metrics"
    anonymous = requests.get(url, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    reader = {"Authorization": f"Bearer {make_key(app, READ, JOBS)}"}
    assert requests.get(url, headers=reader, timeout=10).status_code == 403
    assert "products_http_requests_total" in scrape(web, make_key(app, METRICS))


def test_a_killed_workers_live_values_are_removed_and_its_counts_kept(web, app, metrics_dir):
    key = make_key(app, METRICS)
    victim = workers(web)[0]
    live = metrics_dir / f"gauge_livesum_{victim.pid}.db"
    assert live.exists()
    before = total(scrape(web, key), REQUESTS)

    victim.send_signal(signal.SIGKILL)
    wait_until(lambda: not live.exists(), 30, "the killed worker's live gauge file to go")
    wait_until(lambda: len(workers(web)) == 2 and victim not in workers(web), 30, "a new worker")

    assert (metrics_dir / f"counter_{victim.pid}.db").exists()
    # Its counts stay in the totals; the scrape of `before` is counted now too.
    assert total(scrape(web, key), REQUESTS) >= before + 1
    assert total(scrape(web, key), "products_http_requests_in_progress") == 1


def test_a_metrics_folder_made_by_the_web_process_is_removed_when_it_stops(
    servers, migrated, tmp_path
):
    with web_server(servers.database_url, redis_db(migrated, REDIS_DB), tmp_path) as server:
        [worker] = workers(server)
        # The master set the folder in its environment after it started: /proc's copy of
        # the workers' environment does not show it, their open files do.
        [live] = {
            Path(file.path)
            for file in worker.open_files()
            if file.path.endswith(f"gauge_livesum_{worker.pid}.db")
        }
        folder = live.parent
        assert folder.name.startswith("products-metrics-")
    assert not folder.exists()
