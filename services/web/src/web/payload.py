"""What the API takes from a request: JSON bodies, parsed strictly, and only text that
PostgreSQL can store. Bad input is a 400 that names what is wrong, never a 500."""

import json
import re
from decimal import Decimal
from typing import Any

from flask import Flask, request
from marshmallow import ValidationError
from sqlalchemy import Select
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from tasks.extensions import db

# Text PostgreSQL cannot store: NUL (text and jsonb refuse it) and lone surrogates, which
# have no UTF-8 form. JSON gives them as escapes ("\u0000", "\ud800") and Python's JSON
# decoder lets raw UTF-8-encoded surrogates (ED A0 80) through as well.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE = "must not contain NUL characters or lone surrogates"
# Enough to name the problem; a body full of bad strings gets no longer an answer.
MAX_REPORTED = 20


def json_object() -> dict[str, Any]:
    """The request body as a JSON object: 415 for another media type, 400 for anything else."""
    if not request.is_json:
        raise UnsupportedMediaType("send the request body as application/json")
    body = parse_json(_body())
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if errors := unstorable_text(body):
        raise ValidationError(errors)
    return body


def _body() -> bytes:
    """The request body; 413 past MAX_CONTENT_LENGTH, whether it was announced by its
    Content-Length or streamed (Transfer-Encoding: chunked)."""
    data = request.get_data()
    limit = request.max_content_length
    # werkzeug reads a streamed body up to the limit and stops there without looking for
    # more (LimitedStream.readall), so a longer one would arrive cut short and fail as bad
    # JSON (400), or worse, parse. One more byte from the server tells.
    streamed_to_the_limit = (
        limit is not None and request.content_length is None and len(data) >= limit
    )
    if streamed_to_the_limit and request.input_stream.read(1):
        raise RequestEntityTooLarge()
    return data


def parse_json(data: bytes) -> Any:
    """Strict JSON (RFC 8259): no NaN or Infinity, no duplicate keys, and numbers with a
    fraction or exponent as exact Decimals, so 1e-400 is not quietly 0."""
    try:
        return json.loads(
            data,
            parse_float=Decimal,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, too many digits
        raise BadRequest(f"the request body is not valid JSON: {error}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen.add(key)
    return dict(pairs)


def unstorable_text(value: Any) -> dict[Any, Any]:
    """Where `value` (parsed JSON) holds text PostgreSQL cannot store, as marshmallow
    reports fields: {"name": [message], "recipients": {2: [message]}}. Iterative, so no
    nesting is too deep for it."""
    errors: dict[Any, Any] = {}
    reported = 0
    pending: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while pending and reported < MAX_REPORTED:
        path, item = pending.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                _set_error(errors, path or ("_schema",))
                reported += 1
        elif isinstance(item, dict):
            for key, child in item.items():
                if _UNSTORABLE.search(key):
                    _set_error(errors, (*path, key))
                    reported += 1
                else:
                    pending.append(((*path, key), child))
        elif isinstance(item, list):
            pending.extend(((*path, index), child) for index, child in enumerate(item))
    return errors


def _set_error(errors: dict[Any, Any], path: tuple[Any, ...]) -> None:
    *parents, last = path
    for key in parents:
        errors = errors.setdefault(key, {})
    errors[last] = [UNSTORABLE]


def _refuse_unstorable_query_and_headers() -> None:
    """Before every request: the query string and the headers hold storable text only.

    A query string cannot carry lone surrogates (werkzeug decodes it with replacement
    characters) but can carry NUL as %00; HTTP forbids NUL in header values (RFC 9110
    section 5.5), which gunicorn enforces and the test client does not.
    """
    errors: dict[Any, Any] = {}
    for key, value in request.args.items(multi=True):
        if _UNSTORABLE.search(key) or _UNSTORABLE.search(value):
            errors[key] = [UNSTORABLE]
    if errors:
        raise ValidationError(errors)
    for name, value in request.headers.items():
        if _UNSTORABLE.search(value):
            raise BadRequest(f"header {name} {UNSTORABLE}")


def paginated(query: Select[Any], args: dict[str, Any]) -> dict[str, Any]:
    """One page of `query` (args from PageArgs) and where it stands in the whole, for a
    page schema (web.schemas.page_of) to dump."""
    page = db.paginate(query, page=args["page"], per_page=args["per_page"], error_out=False)
    return {
        "items": page.items,
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }


def register(app: Flask) -> None:
    app.before_request(_refuse_unstorable_query_and_headers)
