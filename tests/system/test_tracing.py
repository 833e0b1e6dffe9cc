"""Traces, end to end, between real processes: the web process as gunicorn runs it, a worker
of each pool (prefork, and the io worker's threads) and the supplier, exporting to a real
OTLP/HTTP receiver on loopback. And with no endpoint set, no tracing in any of them."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from local_servers import wait_until
from tasks.extensions import db
from tasks.models import Product
from tests import processes
from tests.auth import KeyedHttp, keyed_session
from tests.integration.helpers import catalogue, redis_db
from tests.log_lines import json_lines
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.web_server import WebServer, web_server

pytestmark = pytest.mark.system

# A Redis database of its own: the session's worker, untraced, must not take these tasks.
REDIS_DB = 13
WORKERS = {
    "prefork": {"CELERY_WORKER_NAME": "worker", "CELERY_CONCURRENCY": "2"},
    "threads": {
        "CELERY_WORKER_NAME": "io",
        "CELERY_QUEUES": "io",
        "CELERY_POOL": "threads",
        "CELERY_CONCURRENCY": "4",
    },
}
FINAL = {"succeeded", "failed", "dead"}
# What traces are made of: the instrumentations, the SDK's tracing and its exporter. (redis-py 7
# imports OpenTelemetry's API and metrics SDK by itself once they are installed; its own
# metrics stay off unless an app turns them on.)
TRACING_MODULES = re.compile(
    r"\| +(opentelemetry\.(?:instrumentation|sdk\.trace|exporter)\S*)$", re.M
)


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    yield server
    server.stop()


@pytest.fixture
def broker(migrated) -> str:
    url = redis_db(migrated, REDIS_DB)
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def untraced(monkeypatch):
    """No endpoint in the environment the processes inherit, whatever the shell has."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)


def sync_one_product(app, supplier, web: WebServer) -> dict:
    """POST /products/<id>/sync on the web process; the job, once it ended."""
    [sku] = catalogue(app, supplier, 1, "TRC-")
    with app.app_context():
        product_id = db.session.scalar(select(Product.id).where(Product.sku == sku))
    http: KeyedHttp = keyed_session(app)
    response = http.post(f"{web.url}/products/{product_id}/sync", timeout=10)
    assert response.status_code == 202, response.text
    job_url = f"{web.url}{response.headers['Location']}"

    def ended() -> dict | None:
        job = http.get(job_url, timeout=10).json()
        return job if job["state"] in FINAL else None

    return wait_until(ended, 60, "the sync to end")  # type: ignore[return-value]


def ancestry(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """`span` and its parents up to the root, as far as `spans` holds them."""
    by_id = {each.span_id: each for each in spans}
    chain = [span]
    while chain[-1].parent_span_id in by_id:
        chain.append(by_id[chain[-1].parent_span_id])
    return chain


@pytest.mark.parametrize("pool", WORKERS)
def test_a_product_sync_is_one_trace_from_the_request_to_the_suppliers_call(
    pool, app, servers, broker, supplier, worker_settings, receiver, tmp_path
):
    tracing = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        # Spans leave each process a tenth of a second after they end, not 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    settings = {**worker_settings, **WORKERS[pool], **tracing}
    worker, log = processes.start_worker(servers.database_url, broker, tmp_path, pool, **settings)
    try:
        with web_server(servers.database_url, broker, tmp_path, **tracing) as web:
            job = sync_one_product(app, supplier, web)
            assert job["state"] == "succeeded"
            [traceparent] = supplier.traceparents
            assert traceparent, "the supplier received no traceparent"
            _, trace_id, call_span_id, _ = traceparent.split("-")

            def the_call_and_its_ancestry() -> list[ReceivedSpan] | None:
                spans = receiver.trace(trace_id)
                calls = [span for span in spans if span.span_id == call_span_id]
                chain = ancestry(calls[0], spans) if calls else []
                return chain if chain and not chain[-1].parent_span_id else None

            chain = wait_until(the_call_and_its_ancestry, 30, f"trace {trace_id} to arrive")
            spans = receiver.trace(trace_id)
    finally:
        processes.stop(worker)

    service = WORKERS[pool]["CELERY_WORKER_NAME"]
    call, root = chain[0], chain[-1]  # type: ignore[index]
    path = [(span.service, span.name) for span in chain]  # type: ignore[attr-defined]
    assert call.service == service and call.is_client, path
    assert call.attributes.get("http.url", call.attributes.get("url.full")) == (
        f"{supplier.url}/products/{supplier.arrivals[0][1]}"
    )
    assert (root.service, root.name) == ("web", "POST /products/<int:product_id>/sync"), path
    assert ("web", "apply_async/tasks.sync_products") in path, path
    assert (service, "run/tasks.sync_products") in path, path
    # The ledger's entries are events of the job's span, not spans of their own.
    [run] = [span for span in chain if span.name == "run/tasks.sync_products"]  # type: ignore[attr-defined]
    assert run.events[0] == "job claimed" and run.events[-1] == "job succeeded", run.events
    # The database and Redis are in the trace too, from both sides of the queue.
    services_of = {
        kind: {span.service for span in spans if span.attributes.get("db.system") == kind}
        for kind in ("postgresql", "redis")
    }
    assert services_of["postgresql"] == {"web", service}, services_of
    assert {"web", service} <= services_of["redis"], services_of
    assert not receiver.refused
    # The task's log lines name the trace, for an operator to go from one to the other.
    ran = wait_until(
        lambda: [line for line in json_lines(log) if line.get("job_id") == job["id"]],
        30,
        "the worker's lines about the job",
    )
    assert {line.get("trace_id") for line in ran if "succeeded in" in line["message"]} == {
        trace_id
    }, ran


@pytest.mark.parametrize("pool", WORKERS)
def test_without_an_endpoint_no_process_loads_opentelemetrys_tracing(
    pool, untraced, app, servers, broker, supplier, worker_settings, tmp_path: Path
):
    # Every process prints each module it imports, with its name, on its log.
    imports = {"PYTHONPROFILEIMPORTTIME": "1"}
    settings = {**worker_settings, **WORKERS[pool], **imports}
    worker, worker_log = processes.start_worker(
        servers.database_url, broker, tmp_path, pool, **settings
    )
    try:
        with web_server(servers.database_url, broker, tmp_path, **imports) as web:
            assert sync_one_product(app, supplier, web)["state"] == "succeeded"
            web_log = web.log
    finally:
        processes.stop(worker)
    assert supplier.traceparents == [None]
    for log in (web_log, worker_log):
        text = log.read_text()
        assert "| celery" in text or "| flask" in text, f"{log} lists no imports"
        assert TRACING_MODULES.findall(text) == [], f"{log}: OpenTelemetry's tracing imported"
