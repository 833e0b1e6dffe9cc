"""A real HTTP server on loopback playing the supplier: slow, flaky and rate limiting on cue."""

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackHttpServer


class SupplierServer(LoopbackHttpServer):
    def __init__(self) -> None:
        self.offers: dict[str, dict[str, Any]] = {}
        #: Per sku, what the next requests get: "500", "503", "503:<seconds>", "429:<seconds>"
        #: (with Retry-After), "slow:<seconds>", "wait" (no answer until `gate` is set).
        self.script: dict[str, list[str]] = defaultdict(list)
        self.always: dict[str, str] = {}
        self.delay = 0.0
        self.gate = threading.Event()
        self.arrivals: list[tuple[float, str]] = []
        #: The `traceparent` header of each request (None without one), in arrival order.
        self.traceparents: list[str | None] = []
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def reset(self) -> None:
        with self._lock:
            self.offers.clear()
            self.script.clear()
            self.always.clear()
            self.delay = 0.0
            self.gate = threading.Event()
            self.arrivals.clear()
            self.traceparents.clear()
            self.in_flight = self.max_in_flight = 0

    def requests_for(self, sku: str) -> list[float]:
        return [at for at, asked in self.arrivals if asked == sku]

    def _next_action(self, sku: str, traceparent: str | None) -> str:
        with self._lock:
            self.arrivals.append((time.monotonic(), sku))
            self.traceparents.append(traceparent)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.script[sku]:
                return self.script[sku].pop(0)
            return self.always.get(sku, "ok")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        supplier = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                sku = self.path.removeprefix("/products/")
                action = supplier._next_action(sku, self.headers.get("traceparent"))
                try:
                    time.sleep(supplier.delay)
                    if action == "wait":
                        supplier.gate.wait(60)
                        action = "ok"
                    if action.startswith("slow:"):
                        time.sleep(float(action.split(":")[1]))
                        action = "ok"
                    if action.startswith(("429:", "503:")):
                        status, retry_after = action.split(":")
                        self._reply(int(status), {"error": "later"}, {"Retry-After": retry_after})
                    elif action in {"500", "503"}:
                        self._reply(int(action), {"error": "supplier trouble"})
                    elif sku in supplier.offers:
                        self._reply(200, supplier.offers[sku])
                    else:
                        self._reply(404, {"error": "unknown sku"})
                finally:
                    with supplier._lock:
                        supplier.in_flight -= 1

            def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in {
                        "Content-Type": "application/json",
                        **(headers or {}),
                    }.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a read timeout)

        return Handler
