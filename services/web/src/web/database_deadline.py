"""Each request waits on PostgreSQL at most DATABASE_TIMEOUT seconds in all: a ping, a
reconnect and the queries share one deadline."""

from flask import Flask, g

from tasks import database
from tasks.settings import current_settings


def register(app: Flask) -> None:
    timeout = current_settings(app).database_timeout

    @app.before_request
    def start_deadline() -> None:
        g.database_deadline = database.start_deadline(timeout)

    @app.teardown_request
    def end_deadline(_: BaseException | None) -> None:
        token = g.pop("database_deadline", None)
        if token is not None:
            database.end_deadline(token)
