import logging

import pytest
from flask import request
from gunicorn.http.errors import InvalidChunkSize
from marshmallow import ValidationError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import InternalServerError, RequestEntityTooLarge
from werkzeug.routing import RequestRedirect

from tasks.errors import JobConflict
from web.error_handler import ApiError, handle_error

pytestmark = pytest.mark.unit


@pytest.fixture
def answer(web_app):
    """handle_error's answer (status, headers, JSON) to an error raised in a request to
    `path`; with no error, to the one routing the request raised."""

    def answer(error=None, path="/jobs", **request_options):
        with web_app.test_request_context(path, **request_options):
            response = handle_error(error or request.routing_exception)
            return response.status_code, response.headers, response.get_json()

    return answer


def error_of(status: int, code: str, message: str, **extra) -> dict:
    return {"error": {"status": status, "code": code, "message": message, **extra}}


def test_an_app_error_is_answered_with_its_status_code_message_and_headers(answer):
    status, headers, body = answer(JobConflict("a succeeded job cannot be cancelled"))
    assert (status, body) == (
        409,
        error_of(409, "conflict", "a succeeded job cannot be cancelled"),
    )
    assert "Retry-After" not in headers
    error = ApiError("slow down", status=429, code="too_many", retry_after=7, headers={"X-A": "b"})
    status, headers, body = answer(error)
    assert (status, body) == (429, error_of(429, "too_many", "slow down"))
    assert (headers["Retry-After"], headers["X-A"]) == ("7", "b")


def test_no_route_is_a_404_naming_the_path(answer):
    status, _, body = answer(path="/nowhere")
    assert (status, body) == (404, error_of(404, "not_found", "no route /nowhere"))


def test_a_method_not_allowed_is_a_405_naming_the_methods_allowed(answer):
    status, headers, body = answer(path="/healthz", method="DELETE")
    message = "DELETE is not allowed on /healthz; use GET, HEAD, OPTIONS"
    assert (status, body) == (405, error_of(405, "method_not_allowed", message))
    assert set(headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize(
    ("error", "status", "code", "message"),
    [
        (RequestEntityTooLarge(), 413, "request_entity_too_large", "over 1048576 bytes"),
        (InvalidChunkSize(b"zz"), 400, "bad_request", "malformed: Invalid chunk size"),
    ],
    ids=["too-large", "malformed-chunk"],
)
def test_http_and_gunicorn_errors_are_put_in_the_apis_terms(answer, error, status, code, message):
    got, _, body = answer(error)
    assert (got, body["error"]["code"]) == (status, code)
    assert message in body["error"]["message"]


def test_invalid_input_is_a_400_listing_what_is_wrong_field_by_field(answer):
    fields = {"price": ["Not a valid number."], "recipients": {"1": ["bad"]}}
    status, _, body = answer(ValidationError(fields))
    assert (status, body) == (
        400,
        error_of(400, "validation_error", "the request is not valid", fields=fields),
    )


@pytest.mark.parametrize(
    ("error", "code", "logged"),
    [
        (
            OperationalError("SELECT 1", {}, Exception("server closed the connection\nmore")),
            "database_unavailable",
            "database unavailable in GET /jobs [request_id=rid-1]: (builtins.Exception) "
            "server closed the connection",
        ),
        (
            RedisTimeout("Timeout reading from socket"),
            "broker_unavailable",
            "broker unavailable in GET /jobs [request_id=rid-1]: Timeout reading from socket",
        ),
    ],
    ids=["postgres", "redis"],
)
def test_a_dependency_unavailable_is_a_503_to_retry_logged_in_one_line(
    answer, caplog, error, code, logged
):
    with caplog.at_level(logging.WARNING):
        status, headers, body = answer(error, headers={"X-Request-ID": "rid-1"})
    assert (status, body["error"]["code"], headers["Retry-After"]) == (503, code, "5")
    assert [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records] == [
        (logging.WARNING, logged, None)
    ]


def test_an_unexpected_error_is_a_500_naming_the_request_id_and_logged_with_its_traceback(
    answer, caplog
):
    bug = ZeroDivisionError("division by zero")
    with caplog.at_level(logging.ERROR):
        status, _, body = answer(
            InternalServerError(original_exception=bug), headers={"X-Request-ID": "rid-2"}
        )
    message = "the server failed to answer this request; it is logged as request id rid-2"
    assert (status, body) == (500, error_of(500, "internal_server_error", message))
    (record,) = caplog.records
    assert record.getMessage() == "unhandled error in GET /jobs [request_id=rid-2]"
    assert record.exc_info[1] is bug


def test_a_redirect_is_answered_as_werkzeug_built_it(answer):
    status, headers, _ = answer(RequestRedirect("http://localhost/jobs/"))
    assert (status, headers["Location"]) == (308, "http://localhost/jobs/")
