"""API keys: made by `flask keys create`, kept as a hash, scoped, revocable; writes need
one (401 without, 403 without the scope); reads are public only while a setting says so."""

import hashlib
import time

import pytest
from sqlalchemy import select

from local_servers import wait_until
from tasks.extensions import db
from tasks.models import ApiKey, Product
from tests.auth import make_key, with_key
from tests.integration.helpers import app_on_redis_db

pytestmark = pytest.mark.integration

KETTLE = {"sku": "KT-1", "name": "Kettle", "price": "19.99"}


def made_by_cli(runner, *args: str) -> str:
    result = runner.invoke(args=["keys", "create", *args])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[-1]  # what `| tail -1` takes


def product_count(app) -> int:
    with app.app_context():
        return db.session.query(Product).count()


def test_a_key_is_shown_once_and_kept_only_as_a_hash(app, runner):
    key = made_by_cli(runner, "--name", "ci")
    assert key.startswith("pk_") and len(key) > 40
    with app.app_context():
        [row] = db.session.scalars(select(ApiKey)).all()
    assert (row.name, row.scopes) == ("ci", ["jobs", "metrics", "read", "write"])
    assert key.split("_")[1] == row.prefix
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in repr({c.name: getattr(row, c.name) for c in ApiKey.__table__.columns})


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/products", KETTLE),
        ("put", "/products/1", KETTLE),
        ("patch", "/products/1", {"price": "1.00"}),
        ("delete", "/products/1", None),
        ("post", "/products/price-changes", {"percent": "-99.99"}),
        ("post", "/products/1/alerts", {"reason": "price_drop", "recipients": ["a@b.example"]}),
        ("post", "/products/sync", None),
        ("post", "/products/1/sync", None),
        ("post", "/jobs/slow-add", {"a": 1, "b": 2}),
        ("post", "/jobs/00000000-0000-0000-0000-000000000000/retry", None),
        ("delete", "/jobs/00000000-0000-0000-0000-000000000000", None),
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer pk_000000000000_nope", "Basic eDp5"])
def test_every_write_without_a_valid_key_is_a_401_and_changes_nothing(
    app, client, method, path, body, authorization
):
    client.post("/products", json=KETTLE)  # with the fixture's key
    anonymous = app.test_client()
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(anonymous, method)(path, json=body, headers=headers)
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["error"]["code"] == "unauthorized"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="products"')
    if authorization and authorization.startswith("Bearer"):
        assert 'error="invalid_token"' in challenge
    assert product_count(app) == 1


def test_a_key_without_the_scope_is_a_403_naming_it(app):
    reader = with_key(app.test_client(), make_key(app, "read"))
    response = reader.post("/products", json=KETTLE)
    assert response.status_code == 403
    assert response.get_json()["error"]["message"] == "this API key lacks the 'write' scope"
    assert 'error="insufficient_scope", scope="write"' in response.headers["WWW-Authenticate"]
    writer = with_key(app.test_client(), make_key(app, "write"))
    assert writer.post("/products", json=KETTLE).status_code == 201
    assert writer.post("/jobs/slow-add", json={"a": 1, "b": 1}).status_code == 403
    assert product_count(app) == 1


def revoke(runner, key: str) -> None:
    prefix = key.split("_")[1]
    assert prefix in runner.invoke(args=["keys", "list"]).output
    revoked = runner.invoke(args=["keys", "revoke", prefix])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in runner.invoke(args=["keys", "list"]).output


def test_a_revoked_key_is_refused_from_the_next_request_on_without_a_key_cache(migrated):
    app = app_on_redis_db(migrated, 0, API_KEY_CACHE_SECONDS="0")
    runner = app.test_cli_runner()
    key = made_by_cli(runner, "--name", "leaked", "--scope", "write")
    client = with_key(app.test_client(), key)
    assert client.post("/products", json=KETTLE).status_code == 201
    revoke(runner, key)
    assert client.post("/products", json={**KETTLE, "sku": "KT-2"}).status_code == 401
    assert runner.invoke(args=["keys", "revoke", "ffffffffffff"]).exit_code == 1


def test_a_revoked_key_is_refused_once_the_key_cache_forgets_it(migrated):
    app = app_on_redis_db(migrated, 0, API_KEY_CACHE_SECONDS="1", API_PUBLIC_READS="false")
    runner = app.test_cli_runner()
    key = made_by_cli(runner, "--name", "leaked", "--scope", "read")
    client = with_key(app.test_client(), key)
    assert client.get("/jobs").status_code == 200
    revoke(runner, key)
    revoked_at = time.monotonic()
    wait_until(lambda: client.get("/jobs").status_code == 401, 10, "the revoked key's 401")
    # The cache keeps it for a second; a poll and a request take far less than another.
    assert time.monotonic() - revoked_at < 1 + 1.5, "refused later than API_KEY_CACHE_SECONDS"


def test_a_key_records_when_it_was_last_used(app, client):
    with app.app_context():
        assert db.session.scalar(select(ApiKey.last_used_at)) is None
    client.post("/products", json=KETTLE)
    with app.app_context():
        assert db.session.scalar(select(ApiKey.last_used_at)) is not None


def test_reads_are_public_until_the_setting_closes_them(migrated, app, client):
    client.post("/products", json=KETTLE)
    assert app.test_client().get("/products").status_code == 200
    closed = app_on_redis_db(migrated, 0, API_PUBLIC_READS="false")
    anonymous = closed.test_client()
    assert anonymous.get("/products").status_code == 401
    assert anonymous.get("/products/1").status_code == 401
    assert anonymous.get("/jobs").status_code == 401
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    reader = with_key(closed.test_client(), make_key(closed, "read"))
    assert reader.get("/products").get_json()["total"] == 1
    jobs_only = with_key(closed.test_client(), make_key(closed, "jobs"))
    assert jobs_only.get("/products").status_code == 403
