"""The API keeps the contract it describes (/openapi.json): every route is described, and
a property-based fuzzer (schemathesis) finds no 5xx and no response that differs from the
description, against the app on real PostgreSQL and Redis."""

import os
import re

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tasks.settings import current_settings
from tests.auth import make_key
from tests.integration.helpers import app_on_redis_db
from tests.settings import settings_for
from web import create_app

pytestmark = pytest.mark.integration

# Examples per operation. By default few and derandomized: every run tries the same ones.
# FUZZ_EXAMPLES=2000 pytest tests/integration/test_api_contract.py hunts wider, at random.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
DERANDOMIZE = "FUZZ_EXAMPLES" not in os.environ
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_every_route_is_described(client, app):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    described = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith(("api-docs.", "swagger-ui.")):
            continue
        path = re.sub(r"<(?:[^>]*:)?([^>:]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in described, f"{method} {path} is not in /openapi.json"
    assert client.get("/docs").status_code == 200


@pytest.fixture
def fuzzed(migrated, app):
    """The app, publishing to a Redis database no worker consumes (the fuzzer starts jobs
    by the dozen), and a key of every scope."""
    fuzzed = app_on_redis_db(migrated, 9)
    broker = redis.Redis.from_url(current_settings(fuzzed).broker_url)
    yield fuzzed, make_key(fuzzed)
    broker.flushdb()


def description() -> dict:
    """/openapi.json, as the app describes itself (no server is asked for it)."""
    app = create_app(settings_for("postgresql://nobody@127.0.0.1:9/none", "redis://127.0.0.1:9/0"))
    return app.test_client().get("/openapi.json").get_json()


schema = schemathesis.openapi.from_dict(description())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=DERANDOMIZE,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_contract(case, fuzzed):
    app, key = fuzzed
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)
