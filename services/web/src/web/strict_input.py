"""What the API takes from a request: JSON parsed strictly (Flask's own app.json, our
provider), bodies within MAX_CONTENT_LENGTH however they are sent, and only text PostgreSQL
can store. Bad input is a 4xx that names what is wrong, never a 500."""

import json
import re
from decimal import Decimal
from typing import Any

from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import ValidationError
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

# Text PostgreSQL cannot store: NUL (text and jsonb refuse it) and lone surrogates, which
# have no UTF-8 form. JSON gives them as escapes ("\u0000", "\ud800") and Python's JSON
# decoder lets raw UTF-8-encoded surrogates (ED A0 80) through as well.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE = "must not contain NUL characters or lone surrogates"
# Enough to name the problem; a body full of bad strings gets no longer an answer.
MAX_REPORTED = 20


class StrictJSONProvider(DefaultJSONProvider):
    """JSON as RFC 8259 has it: no NaN or Infinity, no duplicate keys, and numbers with a
    fraction or exponent as exact Decimals, so 1e-400 is not quietly 0."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return json.loads(
                s,
                parse_float=Decimal,
                parse_constant=_refuse_constant,
                object_pairs_hook=_unique_keys,
            )
        except RecursionError:
            raise ValueError("it is nested too deeply") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen.add(key)
    return dict(pairs)


class ApiRequest(Request):
    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            raise UnsupportedMediaType("send the request body as application/json")
        raise BadRequest(f"the request body is not valid JSON: {e}")


def json_object() -> dict[str, Any]:
    """The request body as a JSON object of storable text: 415 for another media type, 400
    for anything else."""
    body = request.get_json()
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if errors := unstorable_text(body):
        raise ValidationError(errors)
    return body


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
                if not _UNSTORABLE.search(key):
                    pending.append(((*path, key), child))
                elif reported < MAX_REPORTED:
                    _set_error(errors, (*path, key))
                    reported += 1
        elif isinstance(item, list):
            pending.extend(((*path, index), child) for index, child in enumerate(item))
    return errors


def _set_error(errors: dict[Any, Any], path: tuple[Any, ...]) -> None:
    *parents, last = path
    for key in parents:
        errors = errors.setdefault(key, {})
    errors[last] = [UNSTORABLE]


def _refuse_unstorable_query_and_headers() -> None:
    """The query string and the headers hold storable text only. A query string cannot carry
    lone surrogates (werkzeug decodes it with replacement characters) but can carry NUL as
    %00; HTTP forbids NUL in header values (RFC 9110 section 5.5), which gunicorn enforces
    and the test client does not."""
    errors: dict[Any, Any] = {}
    for key, value in request.args.items(multi=True):
        if _UNSTORABLE.search(key) or _UNSTORABLE.search(value):
            errors[key] = [UNSTORABLE]
    if errors:
        raise ValidationError(errors)
    for name, value in request.headers.items():
        if _UNSTORABLE.search(value):
            raise BadRequest(f"header {name} {UNSTORABLE}")


def _refuse_streamed_body_over_limit() -> None:
    """413 for a body over MAX_CONTENT_LENGTH sent without a Content-Length (chunked), as for
    one that announces it. werkzeug reads such a body up to the limit and stops there without
    looking for more, so a longer one would arrive cut short and fail as bad JSON (400), or
    worse, parse: one more byte from the server tells."""
    limit = request.max_content_length
    if limit is None or request.content_length is not None:
        return
    if len(request.get_data()) >= limit and request.input_stream.read(1):
        raise RequestEntityTooLarge()


def register(app: Flask) -> None:
    app.json = StrictJSONProvider(app)
    app.request_class = ApiRequest
    app.before_request(_refuse_unstorable_query_and_headers)
    app.before_request(_refuse_streamed_body_over_limit)
