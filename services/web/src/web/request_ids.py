"""Every response carries an X-Request-ID: the caller's (a proxy's, Heroku's router's), when
it is a sane one, else a new one; log lines about a request name it."""

import re
import uuid

from flask import Flask, Response, g, request

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


def _note_request_id() -> None:
    request_id()  # in g from the start, for every log line of the request to name


def register(app: Flask) -> None:
    app.before_request(_note_request_id)
    app.after_request(_add_request_id)
