"""The web process as deployments run it (services/web/start: gunicorn), and raw HTTP."""

import http.client
import json
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from local_servers import free_port
from tests import processes


@dataclass
class WebServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker(self) -> psutil.Process:
        """The one gunicorn worker (run with WEB_CONCURRENCY=1)."""
        [worker] = psutil.Process(self.process.pid).children()
        return worker

    def connections(self) -> int:
        """Client connections the worker has accepted and holds open."""
        return sum(
            1
            for connection in self.worker().net_connections(kind="tcp")
            if connection.laddr
            and connection.laddr.port == self.port
            and connection.status == psutil.CONN_ESTABLISHED
        )


@contextmanager
def web_server(database_url: str, redis_url: str, scratch: Path, **env: str) -> Iterator[WebServer]:
    """services/web/start on a free port (one worker unless `env` says otherwise), until it
    answers /healthz."""
    port = free_port()
    log = scratch / f"web-{port}.log"
    url = f"http://127.0.0.1:{port}"
    with processes.serving(
        [str(processes.SERVICES / "web" / "start")],
        processes.service_environment(
            database_url, redis_url, PORT=str(port), **{"WEB_CONCURRENCY": "1", **env}
        ),
        scratch,
        log,
        f"{url}/healthz",
        "the web server",
    ) as process:
        yield WebServer(process, port, log)


@dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send_raw(port: int, data: bytes, timeout: float = 10) -> RawResponse:
    """Send `data` as it is on a new connection; the response, parsed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before it took it all: read the answer.
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return RawResponse(response.status, response.headers, response.read())


def chunked(body: bytes, size: int = 64 * 1024) -> bytes:
    """`body` as a chunked transfer coding."""
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
