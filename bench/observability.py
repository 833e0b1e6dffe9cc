"""What seeing inside the stack costs: job throughput and a job's publish with JSON log lines
and traces exported (to a receiver on loopback), against text lines and no traces, in the
same run."""

import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.harness import Row, Servers, percentile
from bench.tasks_path import STACK_OPTIONS, Drain, stack_drain
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


# What a production deployment keeps: one trace in ten, as the README's example sets it.
SAMPLED = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}


def observability_cost(servers: Servers, count: int, rounds: int = 5) -> list[Row]:
    """Runs with and without, taken in turns (a machine's speed drifts over minutes), each
    `count` jobs: the median of each. A single drain of a few seconds varies by more than the
    cost it measures; the CPU the jobs took over every process is the steadier figure."""
    options = (*STACK_OPTIONS, "--prefetch-multiplier", "1")
    drains: dict[str, list[Drain]] = {"off": [], "every trace": [], "1 trace in 10": []}
    posts_off: list[float] = []
    posts_on: list[float] = []
    with observed() as observing:
        environments = {
            "off": OFF,
            "every trace": observing,
            "1 trace in 10": {**observing, **SAMPLED},
        }
        for _ in range(rounds):
            for name, environment in environments.items():
                drains[name].append(stack_drain(servers, count, 2, options=options, **environment))
        for _ in range(2):
            posts_off += publish_and_health_latencies(servers, 3, **OFF)[0]
            posts_on += publish_and_health_latencies(servers, 3, **observing)[0]
    p50_on, p50_off = percentile(posts_on, 0.5) * 1000, percentile(posts_off, 0.5) * 1000
    without = statistics.median(drain.per_second for drain in drains["off"])
    cpu_off = statistics.median(drain.cpu_seconds_per_1000 for drain in drains["off"])
    rows = []
    for name in ("every trace", "1 trace in 10"):
        with_ = statistics.median(drain.per_second for drain in drains[name])
        cpu_on = statistics.median(drain.cpu_seconds_per_1000 for drain in drains[name])
        publish = (
            f"; a job's publish p50 {p50_on:.2f} ms vs {p50_off:.2f} ms "
            f"({p50_on - p50_off:+.2f} ms)"
            if name == "every trace"
            else ""
        )
        rows.append(
            Row(
                f"jobs observed, {name}",
                with_,
                without,
                "tasks/s",
                "≥ 0.9x (cost ≤ 10 %)",
                with_ >= 0.9 * without,
                f"median of {rounds} runs of {count} no-op jobs each, taken in turns, with JSON "
                f"lines and traces exported ({name}) vs text lines, no traces; CPU per 1,000 "
                f"jobs (worker, PostgreSQL, Redis) {cpu_on:.2f} s vs {cpu_off:.2f} s "
                f"({cpu_on / cpu_off - 1:+.0%}){publish}",
            )
        )
    return rows
