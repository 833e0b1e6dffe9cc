"""Errors say what went wrong; every response carries a request id; every unexpected
error is logged with its traceback and that id."""

import io
import json
import logging
import uuid

import pytest
from sqlalchemy import text

from tasks.extensions import db

pytestmark = pytest.mark.integration


@pytest.fixture
def failing_app(app):
    """The app with two routes that fail as a bug would: in Python and in SQL."""

    def boom() -> None:
        raise RuntimeError("boom")

    def bad_sql() -> None:
        db.session.execute(text("SELECT 1 / 0"))

    app.add_url_rule("/test-boom", view_func=boom)
    app.add_url_rule("/test-bad-sql", view_func=bad_sql)
    return app


@pytest.mark.parametrize(
    ("path", "error"), [("/test-boom", "RuntimeError: boom"), ("/test-bad-sql", "DivisionByZero")]
)
def test_an_unexpected_error_is_a_json_500_logged_with_traceback_and_request_id(
    failing_app, caplog, path, error
):
    client = failing_app.test_client()
    with caplog.at_level(logging.ERROR):
        response = client.get(path, headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    body = response.get_json()["error"]
    assert (body["status"], body["code"]) == (500, "internal_server_error")
    assert "req-42" in body["message"]
    assert response.headers["X-Request-ID"] == "req-42"
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "req-42" in record.getMessage()
    assert path in record.getMessage()
    assert record.exc_info is not None
    assert error in caplog.text  # the traceback is in the log
    assert "Traceback" in caplog.text


def test_a_generated_request_id_is_returned_and_logged(failing_app, caplog):
    with caplog.at_level(logging.ERROR):
        response = failing_app.test_client().get("/test-boom")
    request_id = response.headers["X-Request-ID"]
    assert uuid.UUID(request_id)
    assert request_id in caplog.text
    assert request_id in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "given", ["", " ", "a b", "x" * 129, "<script>", "id;rm -rf", "ïd", "a\tb", "a,b"]
)
def test_an_insane_request_id_is_replaced(client, given):
    response = client.get("/healthz", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] != given
    assert uuid.UUID(response.headers["X-Request-ID"])


@pytest.mark.parametrize(
    "given",
    [
        "5d8fb387-caf1-4225-b379-6c87a4527cc9",
        "5d8fb387caf14225b3796c87a4527cc9",
        "x" * 128,
        "a.b:c/d+e=f@g_h-i",
    ],
)
def test_a_sane_request_id_is_kept_on_success_and_on_error(client, given):
    for path in ("/healthz", "/products/1", "/nowhere"):
        assert client.get(path, headers={"X-Request-ID": given}).headers["X-Request-ID"] == given


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_404s_name_what_is_unknown(client):
    product = client.post("/products", json={"sku": "A", "name": "A", "price": "1.00"})
    gone = product.get_json()["id"] + 1
    job = uuid.uuid4()
    assert client.get(f"/products/{gone}").get_json()["error"]["message"] == f"no product {gone}"
    assert client.delete(f"/products/{gone}").get_json()["error"]["message"] == f"no product {gone}"
    assert client.get(f"/jobs/{job}").get_json()["error"]["message"] == f"no job {job}"
    assert client.get("/nowhere").get_json()["error"]["message"] == "no route /nowhere"
    # An id larger than the column can hold is no product, whatever the method.
    for method in ("get", "put", "patch", "delete"):
        response = getattr(client, method)("/products/2147483648", json={"price": "1.00"})
        assert response.status_code in (400, 404), response.get_json()
    assert client.delete("/products/2147483648").get_json()["error"]["message"] == (
        "no product 2147483648"
    )


def test_405_names_the_methods_allowed(client):
    response = client.delete("/products")
    assert response.status_code == 405
    assert response.get_json()["error"]["message"] == (
        "DELETE is not allowed on /products; use GET, HEAD, OPTIONS, POST"
    )
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


def test_413_says_how_large_a_body_may_be(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/products", data="x" * (limit + 1), content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["message"] == f"the request body is over {limit} bytes"


def streamed(client, body: bytes):
    """POST `body` as a server passes on a chunked one: its length unknown to the app, the
    stream ended by the server (wsgi.input_terminated, as gunicorn sets it)."""
    return client.post(
        "/products",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_streamed_body_up_to_the_limit_is_read_whole(client, app):
    body = json.dumps({"sku": "A", "name": "A", "price": "1.00"}).encode()
    padded = body + b" " * (app.config["MAX_CONTENT_LENGTH"] - len(body))
    assert streamed(client, padded).status_code == 201


def test_a_streamed_body_over_the_limit_is_a_413_even_when_its_start_parses(client, app):
    body = json.dumps({"sku": "A", "name": "A", "price": "1.00"}).encode()
    padded = body + b" " * (app.config["MAX_CONTENT_LENGTH"] - len(body) + 1)
    response = streamed(client, padded)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"
    assert client.get("/products").get_json()["total"] == 0
