"""One handler answers every error, in one shape (web.error_shape).

The library's errors say what failed (tasks.errors.AppError: status, code, message, and when
to try again); werkzeug's HTTP errors, marshmallow's validation errors, gunicorn's refusal of
a malformed body and PostgreSQL or Redis found unavailable are put in those terms here.
Anything else is a bug: logged with its traceback and the request id, reported
(tasks.observability.error_reports) and answered 500.
"""

from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from gunicorn.http.errors import ParseException as MalformedRequest
from marshmallow import ValidationError
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from tasks.errors import (
    DATABASE_ERRORS,
    REDIS_ERRORS,
    AppError,
    BrokerUnavailable,
    DatabaseUnavailable,
    Unavailable,
)
from tasks.observability import error_reports
from web.error_shape import error_body
from web.request_ids import request_id


class ApiError(AppError):
    """An AppError the web layer raises: with headers of its own (WWW-Authenticate, Allow)
    and, for invalid input, what is wrong field by field."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        fields: Any = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status or self.status
        self.code = code or self.code
        self.headers = headers or {}
        self.fields = fields
        self.retry_after = retry_after if retry_after is not None else self.retry_after


def handle_error(error: Exception) -> Response:
    if isinstance(error, HTTPException) and (error.code or 500) < 400:
        # Not an error: a routing redirect (308) answers as werkzeug built it.
        return error.get_response()
    problem = _as_app_error(error)
    if problem is None:
        return _unexpected(error)
    if isinstance(problem, Unavailable):
        _log_unavailable(problem, error)
    extra = {}
    if getattr(problem, "fields", None) is not None:
        extra["fields"] = problem.fields
    response = jsonify(error_body(problem.status, problem.code, str(problem), **extra))
    response.status_code = problem.status
    response.headers.update(getattr(problem, "headers", {}))
    if problem.retry_after is not None:
        response.headers["Retry-After"] = str(problem.retry_after)
    return response


def _as_app_error(error: Exception) -> AppError | None:
    if isinstance(error, AppError):
        return error
    if isinstance(error, InternalServerError):
        # Raised by Flask itself when an error escaped (an after_request function failed).
        return None
    if isinstance(error, HTTPException):
        return _http_error(error)
    if isinstance(error, ValidationError):
        return ApiError(
            "the request is not valid", status=400, code="validation_error", fields=error.messages
        )
    if isinstance(error, DATABASE_ERRORS):
        return DatabaseUnavailable("the database is unavailable; try again")
    if isinstance(error, REDIS_ERRORS):
        # Redis, asked directly (the rate limits' counters), refused or did not answer in time.
        return BrokerUnavailable("Redis is unavailable; try again")
    if isinstance(error, MalformedRequest):
        # gunicorn parses a chunked body as the app reads it: the client's fault.
        return ApiError(f"the request body is malformed: {error}", status=400, code="bad_request")
    return None


def _http_error(error: HTTPException) -> ApiError:
    status = error.code or 500
    headers = {}
    if isinstance(error, MethodNotAllowed) and (allow := error.get_response().headers.get("Allow")):
        headers["Allow"] = allow
    code = error.name.lower().replace(" ", "_")
    return ApiError(_message(error), status=status, code=code, headers=headers)


def _message(error: HTTPException) -> str:
    """What went wrong, in words that name it: werkzeug's stock texts speak to browsers."""
    if isinstance(error, NotFound) and request.url_rule is None:
        return f"no route {request.path}"
    if isinstance(error, MethodNotAllowed):
        allowed = ", ".join(sorted(error.valid_methods or ()))
        return f"{request.method} is not allowed on {request.path}; use {allowed}"
    if isinstance(error, UnsupportedMediaType):
        return "send the request body as application/json"
    if error.description != type(error).description:
        return error.description or ""
    if isinstance(error, RequestEntityTooLarge):
        return f"the request body is over {current_app.config['MAX_CONTENT_LENGTH']} bytes"
    return error.name.lower()


def _log_unavailable(problem: AppError, error: Exception) -> None:
    # No traceback: not a bug of ours, but what and where, for whoever reads the log.
    cause = error.__cause__ or error
    current_app.logger.warning(
        "%s in %s %s [request_id=%s]: %s",
        problem.code.replace("_", " "),
        request.method,
        request.path,
        request_id(),
        (str(cause).splitlines() or [type(cause).__name__])[0],
    )


def _unexpected(error: BaseException) -> Response:
    rid = request_id()
    original = getattr(error, "original_exception", None) or error
    current_app.logger.error(
        "unhandled error in %s %s [request_id=%s]",
        request.method,
        request.path,
        rid,
        exc_info=original,
    )
    error_reports.report(original)
    message = f"the server failed to answer this request; it is logged as request id {rid}"
    response = jsonify(error_body(500, "internal_server_error", message))
    response.status_code = 500
    return response


def register(app: Flask) -> None:
    app.register_error_handler(Exception, handle_error)
