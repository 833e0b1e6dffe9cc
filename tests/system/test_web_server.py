"""The web process as deployed (services/web/start: gunicorn, gevent worker), over real
sockets: gunicorn's own refusals are JSON, bytes the test client cannot send are refused
cleanly, slow and idle clients do not starve the API, and a hung PostgreSQL costs a
request about a second while the others go on."""

import gzip
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import requests
from flask_migrate import upgrade
from sqlalchemy import func, select

from local_servers import free_port, start_postgres, wait_until
from tasks.extensions import db
from tasks.models import Job, Product
from tests.auth import keyed_session, make_key, with_authorization
from tests.faults import paused
from tests.settings import PROMISED_DEADLINES, settings_for
from tests.web_server import WebServer, chunked, send_raw, web_server
from web import create_app

pytestmark = pytest.mark.system

KETTLE = {"sku": "KT-1", "name": "Kettle", "price": "19.99", "stock": 3}
# Generous: proves "did not hang", not "was fast".
CLIENT_TIMEOUT = 5


@pytest.fixture(scope="module")
def web(servers, migrated, tmp_path_factory) -> Iterator[WebServer]:
    with web_server(
        servers.database_url, servers.redis_url, tmp_path_factory.mktemp("web")
    ) as server:
        yield server


def counts(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(Product)),
            db.session.scalar(select(func.count()).select_from(Job)),
        )


def assert_error_shape(response, status: int) -> dict:
    assert response.status == status, (response.status, response.body[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) <= {"status", "code", "message", "fields"}
    assert error["status"] == status
    assert error["code"] and error["message"]
    return error


def request_bytes(
    method: str = "POST",
    target: str = "/products",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    raw_headers: bytes = b"",
) -> bytes:
    headers = headers or {}
    if body and not {"Content-Length", "Transfer-Encoding"} & set(headers):
        headers = {**headers, "Content-Length": str(len(body))}
    lines = [f"{method} {target} HTTP/1.1", "Host: test", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines).encode() + b"\r\n" + raw_headers + b"\r\n" + body


JSON = {"Content-Type": "application/json"}
KETTLE_BODY = json.dumps(KETTLE).encode()

# What gunicorn refuses itself, before the app sees anything: (status, request).
REFUSED_BY_GUNICORN = {
    "request-line-too-long": (414, request_bytes("GET", "/products?" + "a" * 8000)),
    "header-too-large": (431, request_bytes("GET", "/healthz", {"X-Big": "b" * 9000})),
    "too-many-headers": (
        431,
        request_bytes("GET", "/healthz", {f"X-H{i}": "h" for i in range(150)}),
    ),
    "bad-header-name": (400, request_bytes("GET", "/healthz", raw_headers=b"Bad Name: x\r\n")),
    "nul-in-a-header": (400, request_bytes("GET", "/healthz", raw_headers=b"X-A: a\x00b\r\n")),
    "bad-content-length": (400, request_bytes(headers={**JSON, "Content-Length": "abc"})),
    "negative-content-length": (400, request_bytes(headers={**JSON, "Content-Length": "-1"})),
    "two-content-lengths": (
        400,
        request_bytes(
            headers=JSON, raw_headers=b"Content-Length: 2\r\nContent-Length: 3\r\n", body=b"{}"
        ),
    ),
    "content-length-and-chunked": (
        400,
        request_bytes(
            headers={**JSON, "Content-Length": "5", "Transfer-Encoding": "chunked"},
            body=chunked(b"{}"),
        ),
    ),
    "unknown-transfer-coding": (
        501,
        request_bytes(headers={**JSON, "Transfer-Encoding": "br, chunked"}, body=chunked(b"{}")),
    ),
    "bad-request-line": (400, b"GET\r\n\r\n"),
    "bad-http-version": (400, b"GET /healthz HTTP/7.1\r\nHost: test\r\n\r\n"),
    "raw-surrogate-bytes-in-path": (400, b"GET /\xed\xa0\x80 HTTP/1.1\r\nHost: test\r\n\r\n"),
    "control-character-in-path": (400, b"GET /he\x01althz HTTP/1.1\r\nHost: test\r\n\r\n"),
    "raw-high-bytes-in-the-query": (400, b"GET /jobs?state=\xff\xfe HTTP/1.1\r\nHost: t\r\n\r\n"),
}


@pytest.mark.parametrize("name", REFUSED_BY_GUNICORN)
def test_what_gunicorn_refuses_itself_is_answered_in_the_json_error_shape(web, app, name):
    status, data = REFUSED_BY_GUNICORN[name]
    before = counts(app)
    assert_error_shape(send_raw(web.port, data), status)
    assert counts(app) == before


# Refused by the app, but only a real server lets them through as they are.
REFUSED_BY_THE_APP = {
    "malformed-chunk": (
        400,
        request_bytes(headers={**JSON, "Transfer-Encoding": "chunked"}, body=b"zz\r\n{}\r\n"),
    ),
    "chunk-missing-terminator": (
        400,
        request_bytes(headers={**JSON, "Transfer-Encoding": "chunked"}, body=b"2\r\n{}XX0\r\n\r\n"),
    ),
    "chunked-over-max-content-length": (
        413,
        request_bytes(
            headers={**JSON, "Transfer-Encoding": "chunked"},
            body=chunked(b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'),
        ),
    ),
    # gunicorn passes a gzip transfer coding through undecoded; the API does not decode it.
    "gzip-transfer-coding": (
        400,
        request_bytes(
            headers={**JSON, "Transfer-Encoding": "gzip, chunked"},
            body=chunked(gzip.compress(KETTLE_BODY)),
        ),
    ),
    "content-length-over-max": (
        413,
        request_bytes(headers={**JSON, "Content-Length": str(2 * 1024 * 1024)}),
    ),
    "nul-in-the-path": (404, request_bytes("GET", "/products/1%00")),
    "nul-in-the-query": (400, request_bytes("GET", "/products?page=1%00")),
    "encoded-surrogate-in-the-query": (400, request_bytes("GET", "/jobs?state=%ED%A0%80")),
    "invalid-utf8-body": (400, request_bytes(headers=JSON, body=b'{"sku": "\xff"}')),
    "lone-surrogate-body": (400, request_bytes(headers=JSON, body=b'{"sku": "\xed\xa0\x80"}')),
    "product-id-over-int4": (404, request_bytes("GET", "/products/2147483648")),
    "job-id-not-a-uuid": (404, request_bytes("GET", "/jobs/%00%FF")),
}


@pytest.mark.parametrize("name", REFUSED_BY_THE_APP)
def test_bytes_only_a_real_server_passes_on_are_refused_in_the_error_shape(web, app, name):
    status, data = REFUSED_BY_THE_APP[name]
    before = counts(app)
    response = send_raw(web.port, with_authorization(data, make_key(app)))
    assert_error_shape(response, status)
    assert response.headers["X-Request-ID"]
    assert counts(app) == before


def test_a_chunked_body_within_the_limit_is_read_whole(web, app):
    body = chunked(KETTLE_BODY, 7)
    data = request_bytes(headers={**JSON, "Transfer-Encoding": "chunked"}, body=body)
    response = send_raw(web.port, with_authorization(data, make_key(app)))
    assert response.status == 201, response.body
    assert response.json() | KETTLE == response.json()


def test_products_and_jobs_work_end_to_end_under_gevent(web, app, worker):
    api = keyed_session(app)
    created = api.post(f"{web.url}/products", json=KETTLE, timeout=CLIENT_TIMEOUT)
    assert created.status_code == 201, created.text
    product = f"{web.url}{created.headers['Location']}"
    assert api.get(product, timeout=CLIENT_TIMEOUT).json()["sku"] == "KT-1"
    changed = api.patch(product, json={"price": "17.50"}, timeout=CLIENT_TIMEOUT)
    assert changed.json()["price"] == "17.50"
    assert api.get(f"{web.url}/products", timeout=CLIENT_TIMEOUT).json()["total"] == 1
    assert api.delete(product, timeout=CLIENT_TIMEOUT).status_code == 204
    assert (
        api.get(product, timeout=CLIENT_TIMEOUT).json()["error"]["message"].startswith("no product")
    )

    accepted = api.post(f"{web.url}/jobs/slow-add", json={"a": 5, "b": 7}, timeout=CLIENT_TIMEOUT)
    assert accepted.status_code == 202, accepted.text
    job = f"{web.url}{accepted.headers['Location']}"

    def finished() -> dict | None:
        body = api.get(job, timeout=CLIENT_TIMEOUT).json()
        return body if body["state"] in {"succeeded", "failed", "dead"} else None

    # Published to Redis by the gevent worker, run by the Celery worker.
    assert wait_until(finished, 30, "the job to finish")["result"] == 12
    ready = api.get(f"{web.url}/readyz", timeout=CLIENT_TIMEOUT)
    assert ready.json() == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok"}}


SLOW_BODY_CLIENTS = 150
IDLE_CLIENTS = 150


@pytest.fixture
def patient_web(servers, migrated, tmp_path) -> Iterator[WebServer]:
    """The web server holding idle connections for a minute instead of 5 s, so that every
    connection the test opens is still held while it asks for /healthz."""
    with web_server(
        servers.database_url, servers.redis_url, tmp_path, GUNICORN_CMD_ARGS="--keep-alive 60"
    ) as server:
        yield server


def test_slow_and_idle_clients_do_not_starve_the_api(patient_web, app):
    web = patient_web
    with ExitStack() as stack:
        for _ in range(SLOW_BODY_CLIENTS):
            # Headers sent, the body promised (Content-Length) but never finished.
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", web.port)))
            sock.sendall(
                b"POST /products HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"sku": "'
            )
        for _ in range(IDLE_CLIENTS):
            stack.enter_context(socket.create_connection(("127.0.0.1", web.port)))
        held = SLOW_BODY_CLIENTS + IDLE_CLIENTS
        wait_until(lambda: web.connections() >= held, 30, f"the worker to hold {held} clients")

        assert requests.get(f"{web.url}/healthz", timeout=CLIENT_TIMEOUT).json() == {"status": "ok"}
        listed = requests.get(f"{web.url}/products", timeout=CLIENT_TIMEOUT)
        assert listed.status_code == 200
        assert web.connections() >= held  # still held: they were not dropped to answer
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    "sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: te"], ids=["nothing", "half-the-headers"]
)
def test_a_client_that_stalls_before_its_headers_end_is_disconnected(web, sent):
    with socket.create_connection(("127.0.0.1", web.port), timeout=30) as sock:
        sock.sendall(sent)
        assert sock.recv(1) == b""  # closed by the server (keepalive, 5 s), not timed out


@pytest.fixture
def own_postgres(servers, tmp_path) -> Iterator[tuple[str, int]]:
    """A PostgreSQL server of this test's own, to pause: (its URL, its postmaster's pid)."""
    server = start_postgres(tmp_path / "pg", free_port(), "products", durable=False)
    try:
        settings = settings_for(server.url, servers.redis_url)
        with create_app(settings).app_context():
            upgrade()
        yield server.url, server.process.pid
    finally:
        server.stop()


def test_a_hung_postgres_costs_a_request_about_a_second_and_blocks_no_other(
    own_postgres, servers, tmp_path
):
    database_url, postmaster = own_postgres
    concurrent = 20
    with web_server(database_url, servers.redis_url, tmp_path, **PROMISED_DEADLINES) as web:
        # Warm: the worker's pool holds connections to the server about to hang.
        for _ in range(3):
            assert requests.get(f"{web.url}/products", timeout=CLIENT_TIMEOUT).status_code == 200

        with paused(postmaster):
            results: dict[str, int] = {}

            def get(name: str, path: str) -> None:
                response = requests.get(f"{web.url}{path}", timeout=3 * CLIENT_TIMEOUT)
                results[name] = response.status_code

            waiting = [
                threading.Thread(target=get, args=(f"products-{i}", "/products"))
                for i in range(concurrent)
            ]
            for thread in waiting:
                thread.start()
            # Each request waits on PostgreSQL up to API_DEPENDENCY_TIMEOUT (1 s). Were the
            # waits blocking the worker, 20 of them would take 20 s in a row: /healthz
            # would not answer within CLIENT_TIMEOUT, nor the last products request
            # within its own timeout.
            health = requests.get(f"{web.url}/healthz", timeout=CLIENT_TIMEOUT)
            assert health.status_code == 200
            ready = requests.get(f"{web.url}/readyz", timeout=CLIENT_TIMEOUT)
            for thread in waiting:
                thread.join()

        assert ready.status_code == 503
        assert ready.json()["checks"]["postgres"].startswith("timed out")
        assert ready.json()["checks"]["redis"] == "ok"
        # Every one answered (a client timeout would have left it out) and refused.
        assert list(results.values()) == [503] * concurrent, results

        # And once PostgreSQL answers again, so does the API.
        wait_until(
            lambda: requests.get(f"{web.url}/products", timeout=CLIENT_TIMEOUT).ok,
            30,
            "the API to reach PostgreSQL again",
        )
        assert "Traceback" not in web.log.read_text()


def test_a_request_id_is_returned_by_the_real_server(web):
    given = str(uuid.uuid4())
    response = requests.get(f"{web.url}/nowhere", headers={"X-Request-ID": given}, timeout=5)
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == given
