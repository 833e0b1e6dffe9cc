"""A stand-in for the supplier's HTTP API, for `make run` when SUPPLIER_API_URL is unset.

    python -m devstack.supplier --port 8081

`GET /products/<sku>` answers `{"price": "12.34", "stock": 5}` for every sku, the same
numbers for the same sku on every run, after a short delay as a real API over a network
would take.
"""

import argparse
import hashlib
import json
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

PREFIX = "/products/"


def offer(sku: str) -> dict[str, Any]:
    """A price from 1.00 to 200.00 and a stock from 0 to 99, both derived from the sku."""
    digest = hashlib.sha256(sku.encode()).digest()
    cents = 100 + int.from_bytes(digest[:4], "big") % 19_901
    return {"price": f"{cents // 100}.{cents % 100:02d}", "stock": digest[4] % 100}


def handler(latency: tuple[float, float]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm the second waits
        # for the client's delayed ACK of the first, 40 ms a call on a kept-alive connection.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            sku = unquote(path.removeprefix(PREFIX)) if path.startswith(PREFIX) else ""
            if path == "/healthz":
                self._reply(200, {"status": "ok"})
            elif sku and "/" not in sku:
                time.sleep(random.uniform(*latency))
                self._reply(200, offer(sku))
            else:
                self._reply(404, {"error": "not found"})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            if self.path != "/healthz":  # make run polls it
                super().log_request(code, size)

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{format % args}\n")

    return Handler


def serve(host: str, port: int, latency: tuple[float, float]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), handler(latency))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.supplier", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--latency-ms",
        type=int,
        nargs=2,
        default=(50, 200),
        metavar=("LOW", "HIGH"),
        help="each answer waits a random time in this range (default: 50 200)",
    )
    args = parser.parse_args(argv)
    low, high = sorted(args.latency_ms)
    server = serve(args.host, args.port, (low / 1000, high / 1000))
    print(f"supplier API on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
