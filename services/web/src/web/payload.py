from typing import Any

from flask import request
from marshmallow import Schema
from sqlalchemy import Select
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from tasks.extensions import db


def json_object() -> dict[str, Any]:
    """The request body as a JSON object: 415 for another media type, 400 for anything else."""
    if not request.is_json:
        raise UnsupportedMediaType("send the request body as application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a valid JSON object")
    return body


def paginated(query: Select[Any], args: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """One page of `query` (args from PageArgs) and where it stands in the whole."""
    page = db.paginate(query, page=args["page"], per_page=args["per_page"], error_out=False)
    return {
        "items": schema.dump(page.items),
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }
