"""The web process as deployments run it: services/web/start (gunicorn), on a free port."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.servers import answers, free_port, wait_until
from tests import processes


@contextmanager
def web_server(database_url: str, redis_url: str, scratch: Path, **settings: str) -> Iterator[str]:
    """Yields the base URL of a running web process; its log is scratch/web.log."""
    port = free_port()
    env = processes.service_environment(
        database_url,
        redis_url,
        WEB_HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        **settings,
    )
    process = processes.start(
        [str(processes.SERVICES / "web" / "start")], env, scratch, scratch / "web.log"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: process.poll() is not None or answers(f"{url}/healthz"),
            30,
            f"the web process at {url} (log: {scratch / 'web.log'})",
            interval=0.1,
        )
        assert process.poll() is None, (scratch / "web.log").read_text()
        yield url
    finally:
        processes.stop(process)
