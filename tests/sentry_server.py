"""A real HTTP server on loopback playing Sentry's ingestion: it takes the envelopes
sentry-sdk sends (POST /api/<project>/envelope/) and keeps the events in them, in the order
they arrived. https://develop.sentry.dev/sdk/data-model/envelopes/"""

import gzip
import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from local_servers import wait_until
from tests.loopback import LoopbackHttpServer

ENVELOPE_PATH = re.compile(r"/api/(?P<project>[^/]+)/envelope/")
Event = dict[str, Any]


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """An envelope's headers and its items (headers, payload): lines of JSON, each payload
    `length` bytes long when its headers say so, else up to the end of its line."""
    header_line, _, rest = data.partition(b"\n")
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item = json.loads(item_line)
        if "length" in item:
            payload, rest = rest[: item["length"]], rest[item["length"] :]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((item, payload))
    return json.loads(header_line), items


def tags(event: Event) -> dict[str, str]:
    """An event's tags, as a dict (sentry-sdk sends a dict; the protocol allows pairs too)."""
    given = event.get("tags") or {}
    return dict(given) if isinstance(given, dict) else {key: value for key, value in given}


class SentrySink(LoopbackHttpServer):
    def __init__(self, project: str = "1") -> None:
        self.events: list[Event] = []
        self.problems: list[str] = []
        self._lock = threading.Lock()
        super().__init__(self._handler())
        self.dsn = self.url.replace("http://", "http://public@") + f"/{project}"

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.problems.clear()

    def wait_for(self, wanted: Callable[[Event], bool], timeout: float = 30) -> list[Event]:
        """Every event received, in order, once one that `wanted` accepts is among them."""

        def arrived() -> list[Event] | None:
            with self._lock:
                assert not self.problems, self.problems
                return list(self.events) if any(map(wanted, self.events)) else None

        return wait_until(arrived, timeout, "the event to reach the Sentry sink")  # type: ignore[return-value]

    def _take(self, path: str, body: bytes, encoding: str | None) -> int:
        if not ENVELOPE_PATH.fullmatch(path):
            return 404
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding not in (None, "identity"):
            return 415
        _, items = parse_envelope(body)
        with self._lock:
            self.events += [
                json.loads(payload) for item, payload in items if item["type"] == "event"
            ]
        return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                problem = ""
                try:
                    status = sink._take(self.path, body, self.headers.get("Content-Encoding"))
                except (ValueError, OSError) as error:  # not JSON, not gzip
                    status, problem = 400, f": {error!r}"
                if status != 200:
                    with sink._lock:
                        sink.problems.append(f"{status} for POST {self.path}{problem}")
                payload = b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler
