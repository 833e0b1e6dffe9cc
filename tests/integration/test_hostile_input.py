"""A hostile battery: input no client should send. Every answer is a 4xx in the API's
JSON error shape, with a request id, and nothing in the database changes.

Each class of input is tried on every endpoint it can reach: a fix for one example that
leaves its class open fails here. The cases that need the real server (raw bytes on the
wire, gunicorn's own limits) are in tests/system/test_web_server.py.
"""

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from tasks.extensions import db
from tasks.models import Job, OutboxMessage, Product
from tests.integration.helpers import NEVER_ISSUED_JOB_ID

pytestmark = pytest.mark.integration

PRODUCT = {"sku": "KT-1", "name": "Kettle", "description": "Steel", "price": "19.99", "stock": 3}
ALERT = {"reason": "price_drop", "recipients": ["ann@example.com", "bob@example.com"]}
PRICE_CHANGE = {"percent": "10", "sku_prefix": "KT", "min_price": "1.00", "max_price": "50"}

# Every endpoint that reads a JSON body, with a body it accepts. {id} is a real product.
BODY_ENDPOINTS = [
    ("post", "/products", {**PRODUCT, "sku": "KT-2"}),
    ("put", "/products/{id}", PRODUCT),
    ("patch", "/products/{id}", PRODUCT),
    ("post", "/jobs/slow-add", {"a": 5, "b": 7}),
    ("post", "/products/price-changes", PRICE_CHANGE),
    ("post", "/products/{id}/alerts", ALERT),
]
DEEP = 100_000


def raw(body: str | bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"data": body, "content_type": content_type}


def with_each_string(body: Any, make: Callable[[str], str]) -> Iterator[tuple[str, Any]]:
    """`body` with one string at a time (values in objects and arrays) replaced by make(it)."""
    if isinstance(body, str):
        yield "", make(body)
    elif isinstance(body, dict):
        for key, value in body.items():
            for where, changed in with_each_string(value, make):
                yield f"{key}{where}", {**body, key: changed}
    elif isinstance(body, list):
        for index, value in enumerate(body):
            for where, changed in with_each_string(value, make):
                yield f"[{index}]{where}", [*body[:index], changed, *body[index + 1 :]]


UNSTORABLE_TEXT = {
    "nul": lambda s: f"{s}\x00",
    "nul-only": lambda s: "\x00",
    "lone-high-surrogate": lambda s: f"{s}\ud800",
    "lone-low-surrogate": lambda s: f"\udfff{s}",
    "reversed-surrogate-pair": lambda s: f"{s}\ude00\ud83d",
}


def bodies_every_endpoint_refuses(valid: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "deep-array", raw("[" * DEEP + "]" * DEEP)
    yield "deep-object", raw('{"a":' * DEEP + "1" + "}" * DEEP)
    first = next(iter(valid))
    deep = "[" * DEEP + "]" * DEEP
    yield "deep-in-a-field", raw(json.dumps({**valid, first: None}).replace("null", deep))
    for kind in ("[]", "[1, 2]", '"text"', "1", "null", "true", "1e999"):
        yield f"top-level-{kind}", raw(kind)
    yield "empty-json", raw("")
    yield "whitespace", raw("   ")
    yield "truncated", raw(json.dumps(valid)[:-1])
    yield "trailing-garbage", raw(json.dumps(valid) + " x")
    yield "two-documents", raw(json.dumps(valid) * 2)
    yield "single-quotes", raw(json.dumps(valid).replace('"', "'"))
    yield "raw-nul-byte", raw(json.dumps(valid).encode()[:-1] + b"\x00}")
    yield "invalid-utf8", raw(b'{"x": "\xff\xfe"}')
    yield "overlong-utf8", raw(b'{"x": "\xc0\xaf"}')
    # UTF-8 for U+D800, which Python's JSON decoder lets through as a lone surrogate.
    yield "raw-encoded-surrogate", raw(b'{"' + first.encode() + b'": "\xed\xa0\x80"}')
    again = json.dumps(valid[first])
    yield "duplicate-keys", raw(json.dumps(valid)[:-1] + f', "{first}": {again}}}')
    with_null = json.dumps({**valid, first: None})
    for constant in ("NaN", "Infinity", "-Infinity"):
        yield f"literal-{constant}", raw(with_null.replace("null", constant))
    yield "unknown-field", raw(json.dumps({**valid, "colour": "red"}))
    yield "nul-in-a-key", raw(json.dumps({**valid, "x\x00": 1}))
    yield "surrogate-in-a-key", raw(json.dumps({**valid, "x\ud800": 1}))
    yield "no-content-type", {"data": json.dumps(valid)}
    yield "text-plain", raw(json.dumps(valid), "text/plain")
    yield "form", {"data": {"sku": "x"}}
    yield "multipart", {"data": {"sku": "x", "file": (io.BytesIO(b"x"), "x.txt")}}
    yield "json-look-alike-type", raw(json.dumps(valid), "application/jsonx")
    yield "over-max-content-length", raw(json.dumps({**valid, "pad": "x" * (1024 * 1024)}))
    for name, make in UNSTORABLE_TEXT.items():
        for where, changed in with_each_string(valid, make):
            yield f"{name}-in-{where}", {"json": changed}


def cases() -> Iterator[Any]:
    for method, path, valid in BODY_ENDPOINTS:
        for name, request in bodies_every_endpoint_refuses(valid):
            yield pytest.param(method, path, request, id=f"{method}-{path}-{name}")

    def body(method: str, path: str, name: str, payload: Any) -> Any:
        return pytest.param(method, path, {"json": payload}, id=f"{method}-{path}-{name}")

    for method in ("post", "put"):
        path = "/products" if method == "post" else "/products/{id}"
        product = {**PRODUCT, "sku": "NEW-1"} if method == "post" else PRODUCT
        for name, value in {
            "price-1e-400-text": "1e-400",
            "price-three-places": "19.999",
            "price-three-places-number": 19.999,
            "price-tiny-fraction": "0.001",
            "price-1e400": "1e400",
            "price-huge-exponent": "1e999999999",
            "price-nan": "NaN",
            "price-snan": "sNaN",
            "price-infinity": "Infinity",
            "price-negative": "-0.01",
            "price-over-column": "10000000000.00",
            "price-many-digits": "9" * 5000,
            "price-bool": True,
            "price-list": ["1.00"],
            "price-object": {"amount": "1.00"},
            "price-null": None,
            "price-empty": "",
            "price-words": "twelve",
        }.items():
            yield body(method, path, name, {**product, "price": value})
        for name, value in {
            "stock-fraction": 1.5,
            "stock-2-31": 2**31,
            "stock-2-63": 2**63,
            "stock-2-64": 2**64,
            "stock-negative": -1,
            "stock-text": "3",
            "stock-bool": True,
            "stock-null": None,
            "stock-1e3": 1e3,
        }.items():
            yield body(method, path, name, {**product, "stock": value})
        for name, value in {
            "sku-empty": "",
            "sku-too-long": "x" * 65,
            "sku-very-long": "x" * 100_000,
            "sku-number": 12,
            "sku-null": None,
            "sku-list": ["KT-1"],
            "sku-object": {"sku": "KT-1"},
            "name-too-long": "n" * 201,
            "name-201-emoji": "\N{PILE OF POO}" * 201,
            "description-too-long": "d" * 10_001,
        }.items():
            field = name.split("-")[0]
            yield body(method, path, name, {**product, field: value})
        as_number = raw(json.dumps({**product, "price": 0}).replace(": 0", ": 1e-400"))
        yield pytest.param(method, path, as_number, id=f"{method}-{path}-price-1e-400-number")
        yield body(method, path, "id-given", {**product, "id": 99})
        yield body(method, path, "timestamps-given", {**product, "created_at": "2020-01-01"})
        yield body(method, path, "missing-everything", {})
    yield body("patch", "/products/{id}", "patch-price-nan", {"price": "NaN"})
    yield body("patch", "/products/{id}", "patch-sku-null", {"sku": None})

    for name, payload in {
        "missing-b": {"a": 1},
        "a-text": {"a": "5", "b": 7},
        "a-float": {"a": 1.5, "b": 2},
        "a-integral-float": {"a": 1.0, "b": 2},
        "a-bool": {"a": True, "b": 2},
        "a-null": {"a": None, "b": 2},
        "a-2-64": {"a": 2**64, "b": 1},
        "a-2-53": {"a": 2**53, "b": 1},
        "b-minus-2-53": {"a": 1, "b": -(2**53)},
        "extra": {"a": 1, "b": 2, "c": 3},
    }.items():
        yield body("post", "/jobs/slow-add", name, payload)
    digits = raw('{"a": ' + "9" * 5000 + ', "b": 1}')
    yield pytest.param("post", "/jobs/slow-add", digits, id="slow-add-5000-digits")

    for name, payload in {
        "neither": {"sku_prefix": "KT"},
        "both": {"percent": "1", "amount": "1"},
        "percent-three-places": {"percent": "10.005"},
        "percent-1e-400": {"percent": "1e-400"},
        "percent-nan": {"percent": "NaN"},
        "percent-infinity": {"percent": "-Infinity"},
        "percent-below-range": {"percent": "-100"},
        "amount-too-precise": {"amount": "0.001"},
        "amount-huge": {"amount": "1e30"},
        "min-price-over-column": {"percent": "1", "min_price": "1e20"},
        "min-over-max": {"percent": "1", "min_price": "5", "max_price": "4"},
        "sku-prefix-empty": {"percent": "1", "sku_prefix": ""},
        "sku-prefix-too-long": {"percent": "1", "sku_prefix": "K" * 65},
        "sku-prefix-number": {"percent": "1", "sku_prefix": 7},
    }.items():
        yield body("post", "/products/price-changes", name, payload)

    for name, payload in {
        "no-recipients": {"reason": "price_drop", "recipients": []},
        "recipients-text": {"reason": "price_drop", "recipients": "ann@example.com"},
        "recipient-not-email": {"reason": "price_drop", "recipients": ["ann"]},
        "recipient-too-long": {"reason": "price_drop", "recipients": ["a" * 320 + "@x.io"]},
        "too-many-recipients": {"reason": "price_drop", "recipients": ["a@x.io"] * 1001},
        "recipient-null": {"reason": "price_drop", "recipients": [None]},
        "recipient-nested": {"reason": "price_drop", "recipients": [["a@x.io"]]},
        "unknown-reason": {"reason": "because", "recipients": ["a@x.io"]},
        "reason-null": {"reason": None, "recipients": ["a@x.io"]},
    }.items():
        yield body("post", "/products/{id}/alerts", name, payload)

    for name, query in {
        "page-zero": "page=0",
        "page-negative": "page=-1",
        "page-2-31": "page=2147483648",
        "page-2-63": "page=9223372036854775808",
        "page-10-20": "page=100000000000000000000",
        "page-5000-digits": "page=" + "9" * 5000,
        "page-fraction": "page=1.5",
        "page-exponent": "page=1e3",
        "page-empty": "page=",
        "page-words": "page=abc",
        "page-nul": "page=%00",
        "page-nul-after": "page=1%00",
        "page-repeated-first-bad": "page=0&page=1",
        "per-page-zero": "per_page=0",
        "per-page-negative": "per_page=-5",
        "per-page-101": "per_page=101",
        "per-page-huge": "per_page=100000000000000000000",
        "key-nul": "%00=1",
        "unknown-key-nul-value": "colour=red%00",
    }.items():
        for path in ("/products", "/jobs"):
            yield pytest.param("get", f"{path}?{query}", {}, id=f"get-{path}-{name}")
    for name, query in {
        "state-unknown": "state=finished",
        "state-nul": "state=queued%00",
        "state-empty": "state=",
        "state-case": "state=QUEUED",
    }.items():
        yield pytest.param("get", f"/jobs?{query}", {}, id=f"get-jobs-{name}")

    for path in (
        "/products/2147483648",
        "/products/9223372036854775808",
        "/products/" + "9" * 5000,
        "/products/-1",
        "/products/1.5",
        "/products/1e3",
        "/products/0x1",
        "/products/abc",
        "/products/%00",
        "/products/1%00",
        "/products/{missing}",
        "/products/0",
        "/products/{id}/",
        "/products/2147483648/alerts",
        "/products/2147483648/sync",
        "/jobs/not-a-uuid",
        "/jobs/%00",
        "/jobs/" + "a" * 5000,
        f"/jobs/{NEVER_ISSUED_JOB_ID}",
        f"/jobs/{NEVER_ISSUED_JOB_ID}x",
        "/jobs/00000000-0000-0000-0000-000000000000",
        "/nowhere",
        "/products/{id}/nowhere",
        "/%ED%A0%80",
    ):
        yield pytest.param("get", path, {}, id=f"get-{path[:60]}")
    for method, path in (
        ("delete", "/products/2147483648"),
        ("patch", "/products/2147483648"),
        ("delete", "/jobs/not-a-uuid"),
        ("delete", f"/jobs/{NEVER_ISSUED_JOB_ID}"),
        ("post", "/jobs/not-a-uuid/retry"),
        ("post", f"/jobs/{NEVER_ISSUED_JOB_ID}/retry"),
        ("post", "/products/{missing}/alerts"),
        ("post", "/products/{missing}/sync"),
        ("put", "/products"),
        ("delete", "/products"),
        ("patch", "/jobs"),
        ("put", "/jobs/slow-add"),
        ("post", "/healthz"),
        ("delete", "/readyz"),
        ("post", "/products/{id}"),
        ("get", "/products/sync"),
        ("get", "/products/price-changes"),
    ):
        yield pytest.param(method, path, {"json": {}}, id=f"{method}-{path}-method-or-id")

    for name, key in {
        "empty": "",
        "too-long": "k" * 201,
        "nul": "key\x00",
        "very-long": "k" * 10_000,
    }.items():
        yield pytest.param(
            "post",
            "/jobs/slow-add",
            {"json": {"a": 1, "b": 2}, "headers": {"Idempotency-Key": key}},
            id=f"idempotency-key-{name}",
        )
    yield pytest.param(
        "post",
        "/products",
        {"json": {**PRODUCT, "sku": "HDR-1"}, "headers": {"X-Anything": "a\x00b"}},
        id="nul-in-a-header",
    )


def snapshot(app: Flask) -> dict[str, Any]:
    with app.app_context():
        return {
            "products": db.session.scalar(select(func.count()).select_from(Product)),
            "jobs": db.session.scalar(select(func.count()).select_from(Job)),
            "outbox": db.session.scalar(select(func.count()).select_from(OutboxMessage)),
            "rows": db.session.execute(text("SELECT * FROM products ORDER BY id")).all(),
        }


@pytest.fixture
def product_id(client: FlaskClient) -> int:
    response = client.post("/products", json=PRODUCT)
    assert response.status_code == 201
    return response.get_json()["id"]


def assert_error_shape(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/json", response.get_data()[:200]
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) in ({"status", "code", "message"}, {"status", "code", "message", "fields"})
    assert error["status"] == response.status_code
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error.get("fields", {}), dict)
    assert response.headers["X-Request-ID"]
    return error


@pytest.mark.parametrize(("method", "path", "request_kwargs"), list(cases()))
def test_hostile_input_is_a_4xx_in_the_error_shape_and_changes_nothing(
    app, client, product_id, method, path, request_kwargs
):
    path = path.format(id=product_id, missing=product_id + 1000)
    before = snapshot(app)
    response = getattr(client, method)(path, **request_kwargs)
    assert 400 <= response.status_code < 500, response.get_data()[:300]
    assert_error_shape(response)
    assert snapshot(app) == before


UNICODE_THAT_IS_FINE = {
    "emoji": "\N{PILE OF POO}" * 64,
    "escaped-surrogate-pair": "\ud83d\ude00",  # json.dumps escapes it as a valid pair
    "combining": "e\u0301" * 32,
    "line-separator": "a\u2028b\u2029c",
    "right-to-left-override": "\u202egnp.exe",
    "zero-width": "a\u200bb\ufeffc",
    "noncharacter": "\ufffe\uffff\U0010ffff",
    "control-characters": "\x01\x1f\x7f",
}


@pytest.mark.parametrize("text", UNICODE_THAT_IS_FINE.values(), ids=UNICODE_THAT_IS_FINE.keys())
def test_odd_but_storable_unicode_round_trips(client, text):
    if text == "\ud83d\ude00":
        text = "\N{GRINNING FACE}"
    response = client.post("/products", json={**PRODUCT, "sku": text[:64], "name": text})
    assert response.status_code == 201, response.get_json()
    stored = client.get(response.headers["Location"]).get_json()
    assert (stored["sku"], stored["name"]) == (text[:64], text)


@pytest.mark.parametrize(
    "query",
    ["per_page=100", "page=2147483647&per_page=100", "page=+1", "colour=red", "colour=a&colour=b"],
)
@pytest.mark.parametrize("path", ["/products", "/jobs"])
def test_odd_but_valid_queries_answer(client, product_id, path, query):
    response = client.get(f"{path}?{query}")
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("page=1&page=2", ["page"]),
        ("per_page=1&per_page=x", ["per_page"]),
        ("per_page=5&page=1&per_page=5&page=1", ["page", "per_page"]),
        ("state=queued&state=dead", ["state"]),
    ],
)
def test_a_single_valued_parameter_given_twice_is_a_400_naming_it(client, query, named):
    path = "/jobs" if "state" in query else "/products"
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400
    assert sorted(assert_error_shape(response)["fields"]) == named


# Digits of other scripts, which Python's int() and uuid.UUID() take for ASCII ones.
NOT_ASCII_DIGITS = {
    "arabic-indic": "\u0661",
    "devanagari": "\u0967",
    "fullwidth": "\uff11",
    "mathematical": "\U0001d7cf",
}


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS.values(), ids=NOT_ASCII_DIGITS.keys())
@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_a_product_id_in_digits_of_another_script_is_no_product(app, client, digit, method):
    created = client.post("/products", json=PRODUCT).get_json()["id"]
    assert created == 1
    before = snapshot(app)
    response = getattr(client, method)(f"/products/{digit}", json=PRODUCT)
    assert response.status_code == 404
    assert_error_shape(response)
    assert snapshot(app) == before
    for path in (f"/products/{digit}/alerts", f"/products/{digit}/sync"):
        assert client.post(path, json={}).status_code == 404


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS.values(), ids=NOT_ASCII_DIGITS.keys())
def test_query_numbers_in_digits_of_another_script_are_a_400(client, digit):
    for query in (f"page={digit}", f"per_page={digit}", f"page=1{digit}"):
        response = client.get(f"/products?{query}")
        assert response.status_code == 400, query
        assert set(assert_error_shape(response)["fields"]) == {query.split("=")[0]}


def test_a_job_id_in_digits_of_another_script_is_no_job(app, client):
    job = client.post("/jobs/slow-add", json={"a": 1, "b": 2}).get_json()["id"]
    # The same id, its ASCII digits swapped for fullwidth ones: uuid.UUID() reads it.
    lookalike = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in job)
    before = snapshot(app)
    for response in (
        client.get(f"/jobs/{lookalike}"),
        client.delete(f"/jobs/{lookalike}"),
        client.post(f"/jobs/{lookalike}/retry"),
    ):
        assert response.status_code == 404
        assert assert_error_shape(response)["code"] == "not_found"
    assert snapshot(app) == before


def test_money_that_fits_the_column_is_kept_exactly(client):
    for sent, kept in [("19.990", "19.99"), (19.5, "19.50"), ("1e2", "100.00"), (0, "0.00")]:
        response = client.post("/products", json={**PRODUCT, "sku": f"M-{sent}", "price": sent})
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["price"] == kept
