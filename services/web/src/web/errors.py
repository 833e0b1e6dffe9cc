"""Every error leaves as JSON: {"error": {"status", "code", "message"[, "fields"]}}.

Every response carries an X-Request-ID: the caller's, when it sent a sane one, else ours.
Every unexpected error is logged with its traceback and that id, and answered 500.
"""

import re
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from gunicorn.http.errors import ParseException as MalformedRequest
from marshmallow import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from tasks import database
from tasks.errors import BrokerUnavailable, JobConflict, JobNotFound

RETRY_AFTER_SECONDS = "5"
REQUEST_ID_HEADER = "X-Request-ID"
# What proxies and clients send as request ids (UUIDs, hex digests, Heroku's and nginx's
# ids) and nothing that could forge a log line or a header.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+/=@-]{1,128}", re.ASCII)


def request_id() -> str:
    """This request's id: the caller's X-Request-ID if it is sane, else a new one."""
    if "request_id" not in g:
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return g.request_id


def _add_request_id(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = request_id()
    return response


def error_response(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error={"status": status, "code": code, "message": message, **extra}), status


def _message(error: HTTPException) -> str:
    """What went wrong, in words that name it: werkzeug's stock texts speak to browsers."""
    if isinstance(error, NotFound) and request.url_rule is None:
        return f"no route {request.path}"
    if isinstance(error, MethodNotAllowed):
        allowed = ", ".join(sorted(error.valid_methods or ()))
        return f"{request.method} is not allowed on {request.path}; use {allowed}"
    if error.description != type(error).description:
        return error.description or ""
    if isinstance(error, RequestEntityTooLarge):
        return f"the request body is over {current_app.config['MAX_CONTENT_LENGTH']} bytes"
    if isinstance(error, UnsupportedMediaType):
        return "send the request body as application/json"
    return error.name.lower()


def _http_error(error: HTTPException) -> Response | tuple[Response, int]:
    if error.code is None or error.code < 400:
        # Not an error: a routing redirect (308) answers as werkzeug built it.
        return error.get_response()
    if isinstance(error, InternalServerError):
        # Raised by Flask itself when an error escaped the handlers (an after_request
        # function failed, say): log it like any other.
        return _unexpected(error.original_exception or error)
    code = error.name.lower().replace(" ", "_")
    response, status = error_response(error.code, code, _message(error))
    allow = error.get_response().headers.get("Allow") if status == 405 else None
    if allow:
        response.headers["Allow"] = allow
    return response, status


def _validation_error(error: ValidationError) -> tuple[Response, int]:
    return error_response(
        400, "validation_error", "the request is not valid", fields=error.messages
    )


def _unavailable(code: str, message: str) -> tuple[Response, int]:
    response, status = error_response(503, code, message)
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response, status


def _log_unavailable(what: str, error: BaseException) -> None:
    # No traceback: not a bug of ours, but what and where, for whoever reads the log.
    cause = error.__cause__ or error
    current_app.logger.warning(
        "%s unavailable in %s %s [request_id=%s]: %s",
        what,
        request.method,
        request.path,
        request_id(),
        (str(cause).splitlines() or [type(cause).__name__])[0],
    )


def _broker_unavailable(error: BrokerUnavailable) -> tuple[Response, int]:
    _log_unavailable("broker", error)
    return _unavailable("broker_unavailable", str(error))


def _redis_unavailable(error: RedisConnectionError | RedisTimeoutError) -> tuple[Response, int]:
    # Redis, asked directly (the rate limits' counters), refused or did not answer in time.
    _log_unavailable("Redis", error)
    return _unavailable("broker_unavailable", "Redis is unavailable; try again")


def _database_error(error: SQLAlchemyError) -> tuple[Response, int]:
    if database.is_unavailable(error):
        _log_unavailable("database", error)
        return _unavailable("database_unavailable", "the database is unavailable; try again")
    return _unexpected(error)


def _malformed_body(error: MalformedRequest) -> tuple[Response, int]:
    """gunicorn parses a chunked body as the app reads it, and raises from wsgi.input when
    a chunk is malformed: the client's fault, and the connection closes after the answer."""
    return error_response(400, "bad_request", f"the request body is malformed: {error}")


def _job_conflict(error: JobConflict) -> tuple[Response, int]:
    return error_response(409, "conflict", str(error))


def _job_not_found(error: JobNotFound) -> tuple[Response, int]:
    return error_response(404, "not_found", str(error))


def _unexpected(error: BaseException) -> tuple[Response, int]:
    rid = request_id()
    current_app.logger.error(
        "unhandled error in %s %s [request_id=%s]",
        request.method,
        request.path,
        rid,
        exc_info=error,
    )
    return error_response(
        500,
        "internal_server_error",
        f"the server failed to answer this request; it is logged as request id {rid}",
    )


def register(app: Flask) -> None:
    app.after_request(_add_request_id)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(BrokerUnavailable, _broker_unavailable)
    app.register_error_handler(RedisConnectionError, _redis_unavailable)
    app.register_error_handler(RedisTimeoutError, _redis_unavailable)
    app.register_error_handler(SQLAlchemyError, _database_error)
    app.register_error_handler(JobConflict, _job_conflict)
    app.register_error_handler(JobNotFound, _job_not_found)
    app.register_error_handler(MalformedRequest, _malformed_body)
    app.register_error_handler(Exception, _unexpected)
