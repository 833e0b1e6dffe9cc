"""Flower as deployed (services/flower/start), on a free port, with a password."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from local_servers import free_port
from tests import processes

FLOWER_USER, FLOWER_PASSWORD = "admin", "flower-password"


@dataclass
class FlowerServer:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metrics(self) -> str:
        response = requests.get(
            f"{self.url}/metrics", auth=(FLOWER_USER, FLOWER_PASSWORD), timeout=30
        )
        assert response.status_code == 200, response.text
        return response.text


@contextmanager
def flower_server(
    database_url: str, redis_url: str, scratch: Path, **env: str
) -> Iterator[FlowerServer]:
    """services/flower/start until it answers /healthcheck."""
    port = free_port()
    log = scratch / f"flower-{port}.log"
    with processes.serving(
        [str(processes.SERVICES / "flower" / "start")],
        processes.service_environment(
            database_url,
            redis_url,
            FLOWER_PORT=str(port),
            FLOWER_ADDRESS="127.0.0.1",
            FLOWER_BASIC_AUTH=f"{FLOWER_USER}:{FLOWER_PASSWORD}",
            **env,
        ),
        scratch,
        log,
        f"http://127.0.0.1:{port}/healthcheck",
        "Flower",
    ):
        yield FlowerServer(port, log)
