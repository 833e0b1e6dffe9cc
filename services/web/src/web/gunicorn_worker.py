"""gunicorn's gevent worker, answering the requests gunicorn refuses itself (414 request
line too long, 431 headers too large, 400 malformed request line, header, Content-Length
or chunked body, ...) in the API's JSON error shape instead of an HTML page.

Why a worker subclass overriding handle_error, and only that: gunicorn has no setting for
its error pages (benoitc/gunicorn#993). Every page it writes itself is written by
Worker.handle_error, through util.write_error, and a worker class is gunicorn's supported
way to change a worker (`worker_class` takes any subclass of gunicorn.workers.base.Worker).
Rewriting handle_error would copy gunicorn's table of which error gets which status, and
its logging; patching util.write_error would change a gunicorn function for everyone in
the process. So gunicorn's own handle_error still decides the status and logs the request
(its warning and its access-log line); it writes its page into a stand-in for the socket,
and we send the client the same status with a JSON body.

This module is imported by gunicorn's master process: it must not import the app (see
web/__init__.py), only gunicorn and gevent, which gunicorn's gevent worker imports anyway.
"""

import json
import re
from typing import Any

from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from web.error_shape import error_body

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ([^\r\n]*)\r\n")


class _ErrorPage:
    """Stands in for the client's socket while gunicorn writes its error page, keeping the
    bytes. util.write_error writes with sendall after gettimeout() says non-blocking."""

    def __init__(self) -> None:
        self.written = b""

    def gettimeout(self) -> float:
        return 0.0

    def sendall(self, data: bytes) -> None:
        self.written += data


def json_error_response(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 response in the API's error shape; the connection closes after it
    (what gunicorn does after an error it answers itself)."""
    code = re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_") or "error"
    body = json.dumps(error_body(status, code, message), sort_keys=True).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorsGeventWorker(GeventWorker):
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        page = _ErrorPage()
        super().handle_error(req, page, addr, exc)
        written = _STATUS_LINE.match(page.written)
        if written is None:  # gunicorn wrote nothing (or its format changed): send nothing
            return
        status = int(written.group(1))
        reason = written.group(2).decode("latin-1")
        # gunicorn's own words for a request it refused ("Request Line is too large (8192 >
        # 4094)"); for its own failures (500) nothing from inside: the log has it.
        message = str(exc) if status < 500 else "the server failed to answer this request"
        try:
            util.write_nonblock(client, json_error_response(status, reason, message))
        except Exception:
            self.log.debug("Failed to send error message.")
