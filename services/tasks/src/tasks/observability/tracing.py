"""Traces over OTLP/HTTP, on when OTEL_EXPORTER_OTLP_ENDPOINT is set, and nothing otherwise:
without it OpenTelemetry is not even imported.

Each process type calls `init_tracing` once it is the process that does the work, after any
fork (a BatchSpanProcessor's export thread does not survive one): a gunicorn worker after
gevent has patched it (web/gunicorn_conf.py), a prefork pool process, the io worker's
thread-pool process and beat (tasks/celery.py). The SDK reads the rest of its configuration
from the standard OTEL_* variables itself (headers, sampler, resource attributes, batching);
only `service.name` is set here: the process type, so that it cannot be one name for all.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from opentelemetry.sdk.trace import TracerProvider

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
# Health probes come every few seconds and say nothing a trace would add.
DEFAULT_EXCLUDED_URLS = r"/(healthz|readyz)(\?|$)"

_traced_pid: int | None = None
_provider: "TracerProvider | None" = None


def tracing_configured() -> bool:
    """Whether this environment asks for traces (an endpoint, and the SDK not disabled)."""
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return bool(os.environ.get(ENDPOINT_VARIABLE, "").strip()) and not disabled


def init_tracing(service_name: str, flask_app: "Flask | None" = None) -> bool:
    """Export this process's spans as `service_name` and instrument the libraries on a
    request's path (Flask's `flask_app` too, when given). Once per process; False when
    tracing is off."""
    global _traced_pid, _provider
    if _traced_pid == os.getpid() or not tracing_configured():
        return _traced_pid == os.getpid()
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.threading import ThreadingInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

    resource = Resource.create({SERVICE_NAME: service_name})
    processor = BatchSpanProcessor(OTLPSpanExporter())
    _provider = TracerProvider(resource=resource)
    _provider.add_span_processor(processor)
    trace.set_tracer_provider(_provider)
    # An installed library outside an instrumentation's supported range stops the process,
    # rather than leaving that part out of every trace unnoticed.
    checked = {"raise_exception_on_conflict": True}
    CeleryInstrumentor().instrument(**checked)
    # Redis commands inside a request or a task only: the worker's own (polling for
    # messages, acks, events) and beat's ticks would each be a trace of one span, several
    # for every task, costing throughput and saying nothing.
    inside_only = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_OFF))
    inside_only.add_span_processor(processor)
    RedisInstrumentor().instrument(tracer_provider=inside_only, **checked)
    RequestsInstrumentor().instrument(**checked)
    # At the driver: SQLAlchemy's instrumentation supports SQLAlchemy below 2.1 only, and this
    # one traces connections opened after it, whenever their engine was made (before a fork).
    Psycopg2Instrumentor().instrument(**checked)
    # A thread pool's threads start without the submitter's context (the supplier sync's
    # calls would each start a trace of their own): this carries it into every submit.
    ThreadingInstrumentor().instrument(**checked)
    if flask_app is not None:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        excluded = os.environ.get("OTEL_PYTHON_FLASK_EXCLUDED_URLS", DEFAULT_EXCLUDED_URLS)
        FlaskInstrumentor.instrument_app(flask_app, excluded_urls=excluded)
    _traced_pid = os.getpid()
    return True


def shutdown_tracing() -> None:
    """Export the spans still held; for processes that end without running atexit hooks
    (a prefork pool process)."""
    if _provider is not None and _traced_pid == os.getpid():
        _provider.shutdown()


@contextmanager
def as_an_event(name: str, attributes: dict[str, str | int | bool]) -> Iterator[None]:
    """Runs the block untraced, as an event `name` of the span under way: for the stack's own
    bookkeeping (the job ledger's entries), which as spans of their own would be two or more
    on every job, each costing more than a no-op job's run span, and say less than an event
    on it does."""
    if _traced_pid != os.getpid():
        yield
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        yield
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, attributes)


def current_trace_id() -> str | None:
    """The trace id (32 hex digits) of the span under way here, for log lines; None when
    tracing is off in this process or no span is under way."""
    if _traced_pid is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None
