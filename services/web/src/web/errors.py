"""Every error leaves as JSON: {"error": {"status", "code", "message"[, "fields"]}}."""

from typing import Any

from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError

from tasks.jobs import BrokerUnavailable, JobConflict


def error_response(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify(error={"status": status, "code": code, "message": message, **extra}), status


def _http_error(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 500
    code = (error.name or "error").lower().replace(" ", "_")
    response, status = error_response(status, code, error.description or "")
    allow = error.get_response().headers.get("Allow") if status == 405 else None
    if allow:
        response.headers["Allow"] = allow
    return response, status


def _validation_error(error: ValidationError) -> tuple[Response, int]:
    return error_response(
        400, "validation_error", "the request is not valid", fields=error.messages
    )


def _broker_unavailable(error: BrokerUnavailable) -> tuple[Response, int]:
    response, status = error_response(503, "broker_unavailable", str(error))
    response.headers["Retry-After"] = "5"
    return response, status


def _job_conflict(error: JobConflict) -> tuple[Response, int]:
    return error_response(409, "conflict", str(error))


def _unexpected(error: Exception) -> tuple[Response, int]:
    return _http_error(InternalServerError())


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(BrokerUnavailable, _broker_unavailable)
    app.register_error_handler(JobConflict, _job_conflict)
    app.register_error_handler(Exception, _unexpected)
