"""Ports on 127.0.0.1: one nothing listens on, and one a server is about to take."""

import socket

from local_servers.server import ServerError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_port_free(port: int, what: str, variable: str) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise ServerError(
                f"port {port} is already in use, so {what} cannot start there. "
                f"If that is a server you want to use, set {variable} to it; otherwise stop it."
            )
