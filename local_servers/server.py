"""A server started here as a child process, and whether an HTTP server answers."""

from collections.abc import Callable
from dataclasses import dataclass

import requests

from local_servers.process_group import ProcessGroup
from local_servers.waiting import wait_until

START_TIMEOUT = 60.0


class ServerError(RuntimeError):
    pass


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether an HTTP GET of `url` succeeds (2xx) right now."""
    try:
        return requests.get(url, timeout=timeout).ok
    except requests.RequestException:
        return False


@dataclass
class Server:
    name: str
    url: str
    process: ProcessGroup

    def alive(self) -> bool:
        return self.process.alive()

    def log_tail(self, lines: int = 20) -> str:
        path = self.process.log_path
        text = path.read_text(errors="replace") if path and path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        self.process.stop()

    def wait_ready(self, probe: Callable[[], None]) -> None:
        def ready() -> bool:
            if not self.alive():
                raise ServerError(f"{self.name} exited at start-up:\n{self.log_tail()}")
            try:
                probe()
            except Exception:
                return False
            return True

        try:
            wait_until(ready, START_TIMEOUT, f"{self.name} to accept connections", 0.1)
        except BaseException:
            self.stop()
            raise
