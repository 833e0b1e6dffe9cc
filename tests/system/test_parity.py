"""Every compose service and Heroku process type, run by its own command, natively, with
the environment compose gives it (service host names mapped to loopback), against real
PostgreSQL and a real password-protected Redis. What a Docker engine would run, minus
the container."""

import re
import socket
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from local_servers import answers, free_port, start_redis, wait_until
from tests import processes
from tests.auth import keyed_client
from tests.deploy.files import ROOT, compose, heroku
from tests.servers import ensure_database
from tests.settings import settings_for
from tests.waiting import wait_for_job
from web import create_app

pytestmark = pytest.mark.system

DOTENV = {
    "SECRET_KEY": "parity-secret-key-of-decent-length",
    "POSTGRES_PASSWORD": "pg-password",
    "POSTGRES_APP_PASSWORD": "pg-app-password",
    "REDIS_PASSWORD": "redis-password",
    "FLOWER_BASIC_AUTH": "admin:flower-password",
    "BEAT_REQUEUE_INTERVAL": "1",
}


def to_loopback(url: str, port: int) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def database_of_its_own(server_url: str) -> str:
    """The session's PostgreSQL, wherever it is (embedded, a container, compose's), with a
    database of the parity test's own: compose's `products` may be a live one."""
    url = urlunsplit(urlsplit(server_url)._replace(path="/products_parity"))
    ensure_database(url)
    return url


@pytest.fixture(scope="module")
def stack(servers, migrated, tmp_path_factory) -> Iterator[dict]:
    """compose's services, each with its environment: PostgreSQL is the session's (in a
    database of its own), Redis a password-protected one on loopback."""
    scratch = tmp_path_factory.mktemp("parity")
    redis = start_redis(scratch, free_port(), durable=False, password=DOTENV["REDIS_PASSWORD"])
    database_url = database_of_its_own(servers.database_url)
    services = compose(DOTENV)["services"]
    envs = {}
    for name, service in services.items():
        if "build" not in service:
            continue
        env = {**DOTENV, **service["environment"]}
        env["DATABASE_URL"] = database_url
        if "DATABASE_APP_ROLE" in env:
            # Roles belong to the whole server, which may be compose's own: not its role.
            env["DATABASE_APP_ROLE"] = "products_app_parity"
        env["REDIS_URL"] = to_loopback(env["REDIS_URL"], urlsplit(redis.url).port)
        envs[name] = processes.service_environment(
            env["DATABASE_URL"],
            env["REDIS_URL"],
            **env,
            HOSTNAME=socket.gethostname(),
            BEAT_HEARTBEAT_FILE=str(scratch / "beat.heartbeat"),
        )
    yield {"services": services, "env": envs, "scratch": scratch, "redis": redis}
    redis.stop()


def run(stack, name: str, command: list[str], **extra: str) -> subprocess.Popen[bytes]:
    env = {**stack["env"][name], **extra}
    log = stack["scratch"] / f"{name}.log"
    return processes.start([str(ROOT / command[0]), *command[1:]], env, stack["scratch"], log)


def log_of(stack, name: str) -> str:
    return (stack["scratch"] / f"{name}.log").read_text()


def test_migrate_applies_the_migrations_and_exits_0(stack):
    process = run(stack, "migrate", stack["services"]["migrate"]["command"])
    assert process.wait(60) == 0, log_of(stack, "migrate")
    assert "Running upgrade" in log_of(stack, "migrate") or "Will assume" in log_of(
        stack, "migrate"
    )


def test_heroku_release_is_the_same_step_and_exits_0(stack):
    process = run(stack, "migrate", heroku()["release"]["command"])
    assert process.wait(60) == 0


@pytest.mark.parametrize("command_of", ["compose", "heroku"])
def test_web_answers_readyz(stack, command_of):
    command = (
        stack["services"]["web"]["command"] if command_of == "compose" else [heroku()["run"]["web"]]
    )
    port = free_port()  # Heroku sets PORT; compose publishes 8000
    process = run(stack, "web", command, PORT=str(port), WEB_CONCURRENCY="1")
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/readyz"), 30, f"web ({command_of})")
    finally:
        processes.stop(process)


@pytest.mark.parametrize("name", ["worker", "io"])
def test_workers_answer_their_healthcheck_and_run_a_task(stack, name, migrated):
    service = stack["services"][name]
    process = run(stack, name, service["command"])
    env = stack["env"][name]
    try:
        wait_until(
            lambda: healthy(stack, name), 60, f"{name} to answer its healthcheck", interval=0.5
        )
        if name == "worker":
            app = create_app(settings_for(env["DATABASE_URL"], env["REDIS_URL"]))
            client = keyed_client(app)
            location = client.post("/jobs/slow-add", json={"a": 2, "b": 2}).headers["Location"]
            assert wait_for_job(client, location, {"succeeded", "failed"})["result"] == 4
    finally:
        processes.stop(process)


def test_heroku_worker_consumes_too(stack):
    process = run(stack, "worker", [heroku()["run"]["worker"]])
    try:
        wait_until(lambda: "ready." in log_of(stack, "worker"), 60, "the heroku worker")
    finally:
        processes.stop(process)


def healthy(stack, name: str) -> bool:
    """Whether the service's own compose health check passes."""
    check = [str(ROOT / stack["services"][name]["healthcheck"]["test"][1])]
    env = stack["env"][name]
    return subprocess.run(check, env=env, capture_output=True, timeout=30).returncode == 0


def test_beat_sends_its_scheduled_tasks_and_answers_its_healthcheck(stack):
    assert not healthy(stack, "beat")
    process = run(stack, "beat", stack["services"]["beat"]["command"])
    try:
        wait_until(lambda: "Sending due task" in log_of(stack, "beat"), 30, "beat to send")
        wait_until(lambda: healthy(stack, "beat"), 30, "beat to answer its healthcheck")
    finally:
        processes.stop(process)


def flower_pages() -> list[str]:
    """A path for every page of Flower's own URL table, with a sample for each group."""
    from flower.urls import handlers

    pages = []
    for handler in handlers:
        pattern = handler[0] if isinstance(handler, tuple) else handler.regex.pattern
        if pattern == ".*" or pattern.startswith("/static"):
            continue  # pages that are not Flower's (404) or its own JS and CSS
        pages.append(re.sub(r"\([^)]*\)", "x", pattern).rstrip("$?") or "/")
    return pages


def test_flower_answers_with_credentials_and_refuses_without(stack):
    port = free_port()
    process = run(stack, "flower", stack["services"]["flower"]["command"], FLOWER_PORT=str(port))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/healthcheck"), 30, "flower to listen")
        user, password = DOTENV["FLOWER_BASIC_AUTH"].split(":")
        assert requests.get(f"{url}/workers", auth=(user, password), timeout=5).status_code == 200
        assert requests.get(f"{url}/metrics", auth=(user, password), timeout=5).status_code == 200
        pages = flower_pages()
        assert "/metrics" in pages and "/healthcheck" in pages and len(pages) > 15, pages
        answered = {
            (method, page, auth is None): requests.request(
                method, f"{url}{page}", auth=auth, timeout=10, allow_redirects=False
            ).status_code
            for page in pages
            for method in ("GET", "POST")
            for auth in (None, (user, "wrong"))
        }
        # Anything but a refusal (401; 404 or 405 for what Flower does not serve) answers.
        opened = {key: status for key, status in answered.items() if status not in (401, 404, 405)}
        assert opened == {
            ("GET", "/healthcheck", True): 200,
            ("GET", "/healthcheck", False): 200,
        }, opened
    finally:
        processes.stop(process)
