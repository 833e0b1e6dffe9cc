"""What publishing a job costs a request: POST /jobs/slow-add against GET /healthz, on the
same gunicorn (services/web/start), under the same load."""

import http.client
import json
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from bench.cpu import CpuMeter
from bench.harness import ROOT, Row, Servers, percentile, start
from local_servers import answers, free_port, wait_until
from tasks.api_keys import create_key
from web import create_app

CLIENTS = 16
PROCESSES = 4


def _clients(port: int, request: tuple, count: int, stop_at: float) -> list[float]:
    """`count` clients in one process, each on a kept-alive connection, asking as fast as
    they are answered until `stop_at` (time.time()); every request's time."""
    method, path, body, headers = request
    latencies: list[float] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.time() < stop_at:
            started = time.perf_counter()
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: {response.status}")
            mine.append(time.perf_counter() - started)
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def _load(port: int, request: tuple, seconds: float) -> list[float]:
    """CLIENTS clients, spread over PROCESSES processes (one Python's lock would be the
    bottleneck otherwise), for `seconds`."""
    stop_at = time.time() + seconds
    each = CLIENTS // PROCESSES
    with ProcessPoolExecutor(PROCESSES) as pool:
        runs = [pool.submit(_clients, port, request, each, stop_at) for _ in range(PROCESSES)]
        return [latency for run in runs for latency in run.result()]


@dataclass(frozen=True)
class WebLoad:
    latencies: list[float]
    # The web server's CPU (every gunicorn process) per request, in seconds.
    cpu_per_request: float


def _measured_load(port: int, web_session: int, request: tuple, seconds: float) -> WebLoad:
    meter = CpuMeter(web_session)
    meter.start()
    latencies = _load(port, request, seconds)
    return WebLoad(latencies, meter.stop() / len(latencies))


def publish_and_health_latencies(
    servers: Servers, seconds: float, db_number: int = 9, **environ: str
) -> tuple[list[float], list[float], WebLoad, WebLoad]:
    """Each POST /jobs/slow-add's time and each GET /healthz's, `seconds` of each, on
    services/web/start with `environ`; and both loads with the web server's CPU."""
    servers.empty_redis(db_number)
    app = create_app(servers.settings(db_number))
    with app.app_context():
        _, key = create_key("bench")
    port = free_port()
    environment = servers.environment(db_number, PORT=str(port), WEB_HOST="127.0.0.1", **environ)
    web = start(
        [str(ROOT / "services" / "web" / "start")],
        environment,
        servers.scratch / f"web-{port}.log",
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, "gunicorn", 0.1)
        healthz = ("GET", "/healthz", b"", {})
        _load(port, healthz, 1)  # both workers warm
        health = _measured_load(port, web.pid, healthz, seconds)
        body = json.dumps({"a": 1, "b": 2}).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        posts = _measured_load(port, web.pid, ("POST", "/jobs/slow-add", body, headers), seconds)
    finally:
        web.stop()
    return posts.latencies, health.latencies, posts, health


def publish_cost(servers: Servers, seconds: float) -> list[Row]:
    posts, health, post_load, health_load = publish_and_health_latencies(servers, seconds)
    added_p50 = (percentile(posts, 0.5) - percentile(health, 0.5)) * 1000
    added_p99 = (percentile(posts, 0.99) - percentile(health, 0.99)) * 1000
    post_cpu, health_cpu = post_load.cpu_per_request * 1000, health_load.cpu_per_request * 1000
    return [
        Row(
            "publish cost in a request",
            percentile(posts, 0.99) * 1000,
            percentile(health, 0.99) * 1000,
            "ms p99",
            "p99 added ≤ 5 ms",
            added_p99 <= 5,
            f"{CLIENTS} clients; added p50 {added_p50:.2f} ms, p99 {added_p99:.2f} ms; "
            f"{len(posts)} POSTs, {len(health)} GETs",
        ),
        Row(
            "CPU per job-starting request",
            post_cpu,
            health_cpu,
            "ms",
            "≤ 1.5 ms",
            post_cpu <= 1.5,
            "every gunicorn process's CPU over the POSTs, per POST /jobs/slow-add, vs the "
            "same over GET /healthz",
        ),
    ]
