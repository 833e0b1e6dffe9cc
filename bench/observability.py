"""What seeing inside the stack costs: job throughput and a job's publish with JSON log lines
and traces exported (to a receiver on loopback), against text lines and no traces, in the
same run."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.harness import Row, Servers, percentile
from bench.tasks_path import STACK_OPTIONS, _stack_drain
from bench.web_path import publish_and_health_latencies

OFF = {"LOG_FORMAT": "text", "PROCESS_TYPE": "worker"}


class _Receiver(BaseHTTPRequestHandler):
    """Takes every export (OTLP/HTTP) and answers it, as a collector does."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@contextmanager
def observed() -> Iterator[dict[str, str]]:
    """The environment of a process with everything on, and the receiver its traces go to."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {
            **OFF,
            "LOG_FORMAT": "json",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
        }
    finally:
        server.shutdown()
        server.server_close()


def observability_cost(servers: Servers, count: int) -> Row:
    options = (*STACK_OPTIONS, "--prefetch-multiplier", "1")
    off = _stack_drain(servers, count, 2, as_jobs=True, options=options, **OFF)
    with observed() as on_environment:
        on = _stack_drain(servers, count, 2, as_jobs=True, options=options, **on_environment)
        posts_on, _ = publish_and_health_latencies(servers, 5, **on_environment)
    posts_off, _ = publish_and_health_latencies(servers, 5, **OFF)
    added = (percentile(posts_on, 0.5) - percentile(posts_off, 0.5)) * 1000
    return Row(
        "jobs, all observed",
        on,
        off,
        "tasks/s",
        "≥ 0.9x (cost ≤ 10 %)",
        on >= 0.9 * off,
        f"{count} no-op jobs with JSON lines and traces exported vs text lines, no traces; "
        f"a job's publish p50 {percentile(posts_on, 0.5) * 1000:.2f} ms vs "
        f"{percentile(posts_off, 0.5) * 1000:.2f} ms ({added:+.2f} ms)",
    )
