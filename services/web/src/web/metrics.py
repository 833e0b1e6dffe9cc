"""The web process's metrics, in Prometheus's text format at GET /metrics (a key with the
`metrics` scope): requests by method, route and status, their duration, requests in
progress, and jobs started by kind.

gunicorn serves with several worker processes. In prometheus-client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, which web.gunicorn_conf sets up before it forks them) each worker
keeps its values in files of its own, and /metrics adds up every worker's, whichever worker
answers. Without that variable (`flask run`, the tests' Flask client) they are this
process's own.
"""

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from tasks.api_keys import METRICS
from web.openapi import Blueprint

# The route label of a request no URL rule matched (404, 405): never the raw path, which
# anyone can vary without end.
UNMATCHED = "<unmatched>"
# Any other method a client makes up is counted as one label value, for the same reason.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
# The API answers in milliseconds; a request waits on a dependency up to about a second,
# and gunicorn gives up on one after 30 s.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "products_http_requests",
    "HTTP requests answered, by method, URL rule and status",
    ["method", "route", "status"],
)
DURATION = Histogram(
    "products_http_request_duration_seconds",
    "Time from the request reaching Flask to its response, by method and URL rule",
    ["method", "route"],
    buckets=DURATION_BUCKETS,
)
# livesum: the files of a worker that exited are removed (gunicorn_conf's child_exit), so a
# dead worker's unfinished requests do not stay counted.
IN_PROGRESS = Gauge(
    "products_http_requests_in_progress",
    "Requests being served, over every live worker",
    multiprocess_mode="livesum",
)
JOBS_STARTED = Counter(
    "products_jobs_started",
    "Jobs started, by kind (a request replayed by its Idempotency-Key starts none)",
    ["kind"],
)

bp = Blueprint("metrics", __name__, description="For Prometheus.")


@bp.get("/metrics")
@bp.requires(METRICS)
@bp.doc(
    responses={
        "200": {
            "description": "Prometheus's text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    }
)
def metrics() -> Response:
    """The web process's metrics, added up over every gunicorn worker."""
    return Response(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def job_started(kind: str) -> None:
    JOBS_STARTED.labels(kind).inc()


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def _method() -> str:
    return request.method if request.method in KNOWN_METHODS else OTHER_METHOD


def _started() -> None:
    g.metrics_started = time.perf_counter()
    IN_PROGRESS.inc()


def _answered(response: Response) -> Response:
    started = g.get("metrics_started")
    if started is not None:
        method, route = _method(), _route()
        REQUESTS.labels(method, route, str(response.status_code)).inc()
        DURATION.labels(method, route).observe(time.perf_counter() - started)
    return response


def _done(_: BaseException | None) -> None:
    if g.pop("metrics_started", None) is not None:
        IN_PROGRESS.dec()


def register(app: Flask) -> None:
    # First of the before_request functions: one that refuses the request (a 400, 503)
    # skips those after it, and its answer is counted too.
    app.before_request_funcs.setdefault(None, []).insert(0, _started)
    app.after_request(_answered)
    app.teardown_request(_done)
