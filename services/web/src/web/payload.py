from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType


def json_object() -> dict[str, Any]:
    """The request body as a JSON object: 415 for another media type, 400 for anything else."""
    if not request.is_json:
        raise UnsupportedMediaType("send the request body as application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a valid JSON object")
    return body
