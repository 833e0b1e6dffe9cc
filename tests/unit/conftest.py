"""What the unit tests share: apps built from settings whose servers are never contacted, and
a guard that fails any unit test that tries to reach a server."""

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

import tasks
import web
from tasks.settings import Settings

# Nothing listens there, and nothing may try: see `no_servers`.
NOWHERE = {
    "APP_ENV": "test",
    "DATABASE_URL": "postgresql://unit:unit@127.0.0.1:9/never",
    "REDIS_URL": "redis://127.0.0.1:9/0",
}


def unit_settings(**environ: str) -> Settings:
    """Settings as the tests' own, with URLs of servers that are never contacted."""
    return Settings.from_environ({**NOWHERE, **environ})


@pytest.fixture(autouse=True)
def no_servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A unit test that opens a connection (PostgreSQL, Redis, SMTP, HTTP) fails, naming it."""

    def refuse(_: Any, address: Any) -> None:
        raise AssertionError(f"a unit test tried to connect to {address}")

    def refuse_database(*_: Any) -> None:
        raise AssertionError("a unit test tried to connect to PostgreSQL")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    # psycopg2 connects in libpq, not through Python's sockets.
    event.listen(Engine, "do_connect", refuse_database)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", refuse_database)


@pytest.fixture(scope="session")
def tasks_app() -> Flask:
    """The app workers share (tasks.create_app), with its Celery app."""
    return tasks.create_app(unit_settings())


@pytest.fixture(scope="session")
def celery_app(tasks_app: Flask) -> Celery:
    return tasks_app.extensions["celery"]


@pytest.fixture(scope="session")
def web_app() -> Flask:
    """The API (web.create_app), for request contexts and endpoints that touch no server."""
    return web.create_app(unit_settings())
