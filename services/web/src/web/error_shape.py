"""The shape of every error the API answers, from Flask or from gunicorn itself:
{"error": {"status", "code", "message"[, "fields"]}}. Imports nothing of the app (gunicorn's
master imports it, through web.gunicorn_worker)."""

from typing import Any


def error_body(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": message, **extra}}
