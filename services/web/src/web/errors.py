"""Every error leaves as JSON: {"error": {"status", "code", "message"[, "fields"]}}."""

from typing import Any

from flask import Flask, Response, current_app, jsonify
from marshmallow import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from tasks import database
from tasks.jobs import BrokerUnavailable, JobConflict, JobNotFound

RETRY_AFTER_SECONDS = "5"


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


def _unavailable(code: str, message: str) -> tuple[Response, int]:
    response, status = error_response(503, code, message)
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response, status


def _broker_unavailable(error: BrokerUnavailable) -> tuple[Response, int]:
    return _unavailable("broker_unavailable", str(error))


def _database_error(error: SQLAlchemyError) -> tuple[Response, int]:
    if database.is_unavailable(error):
        return _unavailable("database_unavailable", "the database is unavailable; try again")
    return _unexpected(error)


def _job_conflict(error: JobConflict) -> tuple[Response, int]:
    return error_response(409, "conflict", str(error))


def _job_not_found(error: JobNotFound) -> tuple[Response, int]:
    return error_response(404, "not_found", str(error))


def _unexpected(error: Exception) -> tuple[Response, int]:
    current_app.logger.error("unhandled error", exc_info=error)
    return _http_error(InternalServerError())


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(ValidationError, _validation_error)
    app.register_error_handler(BrokerUnavailable, _broker_unavailable)
    app.register_error_handler(SQLAlchemyError, _database_error)
    app.register_error_handler(JobConflict, _job_conflict)
    app.register_error_handler(JobNotFound, _job_not_found)
    app.register_error_handler(Exception, _unexpected)
