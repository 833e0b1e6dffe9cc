"""`make run`: the whole stack as processes on this machine, no Docker.

Starts PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL name servers to use),
applies migrations, then runs each service's own start script, restarting any of these
that exits, until Ctrl-C or SIGTERM stops all of it, leaving nothing behind.
"""

import io
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from dotenv import dotenv_values

from devstack.supervisor import Supervisor
from local_servers import (
    ProcessGroup,
    Server,
    ServerError,
    answers,
    ensure_port_free,
    start_postgres,
    start_redis,
    wait_until,
)
from tasks.api_keys import SCOPES, create_key, find_key
from tasks.app import create_app
from tasks.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"
# Where the settings' local defaults point: make run's servers go there.
DEFAULT_DATABASE_PORT = urlsplit(Settings.model_fields["database_url"].default).port
DEFAULT_REDIS_PORT = urlsplit(Settings.model_fields["redis_url"].default).port
DEFAULT_SUPPLIER_PORT = urlsplit(Settings.model_fields["supplier_api_url"].default).port
# The lines of .env that say where make run's own servers are, for a `flask shell` or
# `celery -A tasks.celery worker` in another terminal. First in the file, so that a
# DATABASE_URL or REDIS_URL written below them wins; rewritten at each start.
STACK_BLOCK_START = "# make run: its own servers (rewritten at each start; lines below win)"
STACK_BLOCK_END = "# make run: end"
# The .env of the folder make run runs in, as every process of the stack reads it.
ENV_FILE = ".env"
CHECK_INTERVAL = 0.5
UP_TIMEOUT = 90.0

# Each process type and the script that starts it, as a deployment runs them.
PROCESSES = {
    "web": SERVICES / "web" / "start",
    "worker": SERVICES / "worker" / "start",
    "io": SERVICES / "worker" / "start",
    "beat": SERVICES / "worker" / "beat",
    "flower": SERVICES / "flower" / "start",
}
PROCESS_SETTINGS = {
    "worker": {"CELERY_QUEUES": "celery"},
    "io": {
        "CELERY_WORKER_NAME": "io",
        "CELERY_QUEUES": "io",
        "CELERY_POOL": "threads",
        "CELERY_CONCURRENCY": "8",
    },
}


def split_env_file(path: Path) -> tuple[str, str]:
    """(make run's own block of `path`, the rest of it)."""
    text = path.read_text() if path.exists() else ""
    start, end = text.find(STACK_BLOCK_START), text.find(STACK_BLOCK_END)
    if start < 0 or end < start:
        return "", text
    end += len(STACK_BLOCK_END) + 1
    return text[start:end], text[:start] + text[end:]


def stack_environment() -> dict[str, str]:
    """The environment wins over .env (without make run's own lines), as with python-dotenv
    everywhere else."""
    _, own = split_env_file(Path(ENV_FILE))
    env = {k: v for k, v in dotenv_values(stream=io.StringIO(own)).items() if v is not None}
    env.update(os.environ)
    env.setdefault("APP_ENV", "development")
    env.setdefault("WEB_HOST", "127.0.0.1")
    env.setdefault("PORT", "8000")
    env.setdefault("FLOWER_ADDRESS", "127.0.0.1")
    env.setdefault("FLOWER_PORT", "5555")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# The role web and workers connect to make run's own PostgreSQL as (tasks/roles.py).
APP_ROLE = "products_app"


def kept_secret(data_dir: Path, name: str, make: Callable[[], str] | None = None) -> str:
    """A secret made once per data folder (readable by this user only), the same next time."""
    path = data_dir / name
    if not path.exists():
        path.write_text((make or (lambda: secrets.token_urlsafe(18)))())
        path.chmod(0o600)
    return path.read_text().strip()


def start_servers(env: dict[str, str], data_dir: Path, supervisor: Supervisor) -> list[Server]:
    """PostgreSQL and Redis, each with a password, unless DATABASE_URL / REDIS_URL name
    servers to use. Our own PostgreSQL gets the app role too: env's DATABASE_URL is the
    owner's (for the release step), DATABASE_APP_ROLE and its password say the rest."""
    started: list[Server] = []
    if not env.get("DATABASE_URL"):
        port = int(env.get("DEV_POSTGRES_PORT") or DEFAULT_DATABASE_PORT or 5432)
        password = kept_secret(data_dir, "postgres-password")
        started.append(start_postgres(data_dir, port, "products", password=password))
        supervisor.watch(started[-1].process, time.monotonic())
        env["DATABASE_URL"] = started[-1].url
        env["DATABASE_APP_ROLE"] = APP_ROLE
        env["DATABASE_APP_PASSWORD"] = kept_secret(data_dir, "postgres-app-password")
    if not env.get("REDIS_URL"):
        port = int(env.get("DEV_REDIS_PORT") or DEFAULT_REDIS_PORT or 6379)
        password = kept_secret(data_dir, "redis-password")
        started.append(start_redis(data_dir, port, password=password))
        supervisor.watch(started[-1].process, time.monotonic())
        env["REDIS_URL"] = started[-1].url
    return started


def as_app_role(env: dict[str, str]) -> dict[str, str]:
    """After the release step: what web and workers get, the app role's URL (when make run
    made the role) and no owner's credentials."""
    role, password = env.pop("DATABASE_APP_ROLE", None), env.pop("DATABASE_APP_PASSWORD", None)
    if role and password:
        parts = urlsplit(env["DATABASE_URL"])
        login = f"{role}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
        env["DATABASE_URL"] = urlunsplit(parts._replace(netloc=login))
    return env


def write_stack_block(env_file: Path, urls: dict[str, str]) -> None:
    """Say in `env_file` where the servers make run started are (or nothing, if it started
    none): what a second terminal's `flask shell` or Celery worker reads."""
    _, rest = split_env_file(env_file)
    block = "".join(f"{name}={url}\n" for name, url in urls.items())
    if block:
        block = f"{STACK_BLOCK_START}\n{block}{STACK_BLOCK_END}\n"
    env_file.write_text(block + rest)
    env_file.chmod(0o600)


def dev_api_key(env: dict[str, str], data_dir: Path) -> str:
    """The development API key, with every scope: made on the first start, kept, made again
    if the database no longer knows it (a new database) or it lacks a scope added since."""
    app = create_app(Settings.from_environ(env))
    path = data_dir / "api-key"
    with app.app_context():
        kept = find_key(path.read_text().strip()) if path.exists() else None
        if kept is not None and set(SCOPES) <= set(kept.scopes):
            return path.read_text().strip()
        _, key = create_key("make run")
    path.write_text(key)
    path.chmod(0o600)
    return key


def stand_ins(env: dict[str, str]) -> dict[str, list[str]]:
    """Local stand-ins for the outside services that are not configured; sets their URLs."""
    commands: dict[str, list[str]] = {}
    if not env.get("SMTP_HOST"):
        # Alerts go to a local SMTP server that prints each message.
        env["SMTP_HOST"], env["SMTP_PORT"] = "127.0.0.1", env.get("SMTP_PORT", "1025")
        ensure_port_free(int(env["SMTP_PORT"]), "the SMTP sink", "SMTP_HOST")
        commands["mail"] = [
            sys.executable, "-m", "aiosmtpd", "-n",
            "-l", f"127.0.0.1:{env['SMTP_PORT']}",
            "-c", "aiosmtpd.handlers.Debugging",
        ]  # fmt: skip
    if not env.get("SUPPLIER_API_URL"):
        port = env.get("DEV_SUPPLIER_PORT") or str(DEFAULT_SUPPLIER_PORT)
        ensure_port_free(int(port), "the supplier API stand-in", "SUPPLIER_API_URL")
        env["SUPPLIER_API_URL"] = f"http://127.0.0.1:{port}"
        commands["supplier"] = [sys.executable, "-m", "devstack.supplier", "--port", port]
    return commands


def run() -> int:
    env = stack_environment()
    env.setdefault("LOG_FORMAT", "text")
    data_dir = Path(env.get("DEVSTACK_DATA_DIR") or ROOT / ".devdata")
    data_dir.mkdir(parents=True, exist_ok=True)
    env.setdefault(
        "FLOWER_BASIC_AUTH",
        kept_secret(data_dir, "flower-basic-auth", lambda: f"admin:{secrets.token_urlsafe(12)}"),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    # Everything is started and restarted from this thread: see die_with_parent.
    supervisor = Supervisor()
    try:
        servers = start_servers(env, data_dir, supervisor)
        ensure_port_free(int(env["PORT"]), "the web server", "PORT")
        ensure_port_free(int(env["FLOWER_PORT"]), "Flower", "FLOWER_PORT")
        print("applying migrations (services/web/release)", flush=True)
        subprocess.run([SERVICES / "web" / "release"], env=env, cwd=ROOT, check=True)
        env = as_app_role(env)
        started = {server.name: server for server in servers}
        write_stack_block(
            Path(ENV_FILE),
            {
                variable: env[variable]
                for variable, name in (("DATABASE_URL", "PostgreSQL"), ("REDIS_URL", "Redis"))
                if name in started
            },
        )
        api_key = dev_api_key(env, data_dir)

        commands = {name: [str(script)] for name, script in PROCESSES.items()}
        local = stand_ins(env)
        for name, command in {**commands, **local}.items():
            process = ProcessGroup(
                name, command, env={**env, **PROCESS_SETTINGS.get(name, {})}, cwd=ROOT
            )
            process.start()
            supervisor.watch(process, time.monotonic())

        web_url = f"http://{env['WEB_HOST']}:{env['PORT']}"
        flower_url = f"http://{env['FLOWER_ADDRESS']}:{env['FLOWER_PORT']}"
        probes = [f"{web_url}/readyz", f"{flower_url}/healthcheck"]
        if "supplier" in local:
            probes.append(f"{env['SUPPLIER_API_URL']}/healthz")

        def up() -> bool:
            supervisor.check(time.monotonic())
            return stop.is_set() or all(answers(url) for url in probes)

        wait_until(up, UP_TIMEOUT, f"{', '.join(probes)} to answer", CHECK_INTERVAL)
        if not stop.is_set():
            print(banner(env, web_url, flower_url, api_key, servers, set(local)), flush=True)
        while not stop.wait(CHECK_INTERVAL):
            supervisor.check(time.monotonic())
        print("stopping…", flush=True)
    finally:
        supervisor.stop_all()
    return 0


def banner(
    env: dict[str, str],
    web_url: str,
    flower_url: str,
    api_key: str,
    started: list[Server],
    local: set[str],
) -> str:
    smtp = f"{env['SMTP_HOST']}:{env.get('SMTP_PORT', '')}"
    lines = [
        "",
        "The stack is up:",
        f"  API      {web_url}  (try: curl {web_url}/products)",
        f'  API key  {api_key}  (writes: -H "Authorization: Bearer $API_KEY")',
        f"  Docs     {web_url}/docs  (the description: {web_url}/openapi.json)",
        f"  Flower   {flower_url}  (user:password {env['FLOWER_BASIC_AUTH']})",
        f"  Postgres {env['DATABASE_URL']}",
        f"  Redis    {env['REDIS_URL']}",
        f"  SMTP     {smtp}" + ("  (a local sink: messages print here)" if "mail" in local else ""),
        f"  Supplier {env['SUPPLIER_API_URL']}"
        + ("  (a local stand-in: steady made-up offers)" if "supplier" in local else ""),
    ]
    if started:
        lines.append(f"  (started here: {', '.join(server.name for server in started)})")
    lines.append("A process that exits is restarted. Press Ctrl-C to stop everything.\n")
    return "\n".join(lines)


def main() -> int:
    try:
        return run()
    except (ServerError, TimeoutError, subprocess.CalledProcessError) as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
