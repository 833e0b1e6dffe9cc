"""`make run`: the whole stack as processes on this machine, no Docker.

Starts PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL name servers to use),
applies migrations, then runs each service's own start script and stops all of it,
leaving nothing behind, on Ctrl-C or when any process exits.
"""

import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from dotenv import dotenv_values

from devstack.process_group import die_with_parent
from devstack.servers import (
    Server,
    ServerError,
    answers,
    ensure_port_free,
    start_postgres,
    start_redis,
    wait_until,
)
from tasks.config import DEV_DATABASE_URL, DEV_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"
STOP_TIMEOUT = 20.0

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


class Process:
    """A service's start script, its output prefixed with its name."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.popen = subprocess.Popen(
            command,
            env={**env, **PROCESS_SETTINGS.get(name, {})},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group: Ctrl-C reaches us alone, and stop() reaches all its children.
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
        assert self.popen.stdout is not None
        threading.Thread(target=self._relay, args=(self.popen.stdout,), daemon=True).start()

    def _relay(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            sys.stdout.write(f"{self.name:>7} | {line.decode(errors='replace')}")
            sys.stdout.flush()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(STOP_TIMEOUT)
                # The group may outlive its leader for a moment (gunicorn or Celery children).
                wait_until(lambda: not _group_alive(self.popen.pid), STOP_TIMEOUT, self.name)
                return
            except (subprocess.TimeoutExpired, TimeoutError):
                print(f"{self.name} did not stop within {STOP_TIMEOUT:g}s; killing it", flush=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stack_environment() -> dict[str, str]:
    """The environment wins over .env, as with python-dotenv everywhere else."""
    env = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
    env.update(os.environ)
    env.setdefault("APP_ENV", "development")
    env.setdefault("WEB_HOST", "127.0.0.1")
    env.setdefault("PORT", "8000")
    env.setdefault("FLOWER_ADDRESS", "127.0.0.1")
    env.setdefault("FLOWER_PORT", "5555")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def flower_credentials(data_dir: Path) -> str:
    """A password made once per data folder, so that Flower never runs open."""
    path = data_dir / "flower-basic-auth"
    if not path.exists():
        path.write_text(f"admin:{secrets.token_urlsafe(12)}")
        path.chmod(0o600)
    return path.read_text().strip()


@contextmanager
def servers(env: dict[str, str], data_dir: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        if not env.get("DATABASE_URL"):
            port = int(env.get("DEV_POSTGRES_PORT") or urlsplit(DEV_DATABASE_URL).port or 5432)
            started.append(start_postgres(data_dir, port, "products"))
            env["DATABASE_URL"] = started[-1].url
        if not env.get("REDIS_URL"):
            port = int(env.get("DEV_REDIS_PORT") or urlsplit(DEV_REDIS_URL).port or 6379)
            started.append(start_redis(data_dir, port))
            env["REDIS_URL"] = started[-1].url
        yield started
    finally:
        for server in reversed(started):
            server.stop()


def run() -> int:
    env = stack_environment()
    data_dir = Path(env.get("DEVSTACK_DATA_DIR") or ROOT / ".devdata")
    data_dir.mkdir(parents=True, exist_ok=True)
    env.setdefault("FLOWER_BASIC_AUTH", flower_credentials(data_dir))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    with ExitStack() as stack:
        running = stack.enter_context(servers(env, data_dir))
        ensure_port_free(int(env["PORT"]), "the web server", "PORT")
        ensure_port_free(int(env["FLOWER_PORT"]), "Flower", "FLOWER_PORT")
        print("applying migrations (services/web/release)", flush=True)
        subprocess.run([SERVICES / "web" / "release"], env=env, cwd=ROOT, check=True)

        processes: list[Process] = []
        stack.callback(lambda: [p.stop() for p in reversed(processes)])
        commands = {name: [str(script)] for name, script in PROCESSES.items()}
        if not env.get("SMTP_HOST"):
            # Alerts go to a local SMTP server that prints each message.
            env["SMTP_HOST"], env["SMTP_PORT"] = "127.0.0.1", env.get("SMTP_PORT", "1025")
            ensure_port_free(int(env["SMTP_PORT"]), "the SMTP sink", "SMTP_HOST")
            commands["mail"] = [
                sys.executable, "-m", "aiosmtpd", "-n",
                "-l", f"127.0.0.1:{env['SMTP_PORT']}",
                "-c", "aiosmtpd.handlers.Debugging",
            ]  # fmt: skip
        for name, command in commands.items():
            processes.append(Process(name, command, env))

        web_url = f"http://{env['WEB_HOST']}:{env['PORT']}"
        flower_url = f"http://{env['FLOWER_ADDRESS']}:{env['FLOWER_PORT']}"
        for name, url in (("web", f"{web_url}/readyz"), ("flower", f"{flower_url}/healthcheck")):
            process = next(p for p in processes if p.name == name)
            wait_until(
                lambda: answers(url) or stop.is_set() or not process.alive(),  # noqa: B023
                60,
                f"{name} to answer at {url}",
            )
        print(banner(env, web_url, flower_url, running, "mail" in commands), flush=True)
        while not stop.wait(0.5):
            exited = [p for p in processes if not p.alive()]
            if exited:
                print(
                    f"{exited[0].name} exited with {exited[0].popen.returncode}; stopping",
                    flush=True,
                )
                return 1
        print("stopping…", flush=True)
    return 0


def banner(
    env: dict[str, str], web_url: str, flower_url: str, started: list[Server], mail_sink: bool
) -> str:
    smtp = f"{env['SMTP_HOST']}:{env.get('SMTP_PORT', '')}"
    lines = [
        "",
        "The stack is up:",
        f"  API      {web_url}  (try: curl {web_url}/products)",
        f"  Flower   {flower_url}  (user:password {env['FLOWER_BASIC_AUTH']})",
        f"  Postgres {env['DATABASE_URL']}",
        f"  Redis    {env['REDIS_URL']}",
        f"  SMTP     {smtp}" + ("  (a local sink: messages print here)" if mail_sink else ""),
    ]
    if started:
        lines.append(f"  (started here: {', '.join(server.name for server in started)})")
    lines.append("Press Ctrl-C to stop everything.\n")
    return "\n".join(lines)


def main() -> int:
    try:
        return run()
    except (ServerError, TimeoutError, subprocess.CalledProcessError) as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
