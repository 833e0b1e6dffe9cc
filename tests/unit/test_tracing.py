"""tasks.observability.tracing in a fresh interpreter each: what it loads, and the trace id
it gives."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def run(code: str, **environ: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_without_an_endpoint_nothing_is_traced_nor_loaded():
    code = (
        "import sys; from tasks.observability.tracing import init_tracing, current_trace_id;"
        "print(init_tracing('web'), current_trace_id(),"
        " [m for m in sys.modules if m.startswith('opentelemetry')])"
    )
    assert run(code) == "False None []"
    assert run(
        code, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true"
    ) == ("False None []")


def test_the_trace_id_is_that_of_the_span_under_way():
    code = """
import os, sys
from opentelemetry import trace
from tasks.observability.tracing import current_trace_id, init_tracing

print(init_tracing("web"), current_trace_id())
span = trace.get_tracer("t").start_span("s")
with trace.use_span(span):
    print(current_trace_id() == format(span.get_span_context().trace_id, "032x"))
print(current_trace_id())
sys.stdout.flush()
os._exit(0)  # without exporting: nothing listens
"""
    assert run(code, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9").splitlines() == [
        "True None",
        "True",
        "None",
    ]
