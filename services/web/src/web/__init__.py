"""The products HTTP API: `web:create_app()`.

Importing this package imports nothing else. gunicorn's master process imports
web.gunicorn_conf and web.gunicorn_worker, and with them this package, before it forks
the workers; each gevent worker must monkey-patch the standard library before the app's
modules (Celery, redis-py, SQLAlchemy, the readiness checks' thread pool) are imported.
Imported in the master, that thread pool kept a real, blocking queue, and the first
/readyz blocked the whole worker. So the app is built in web.app, imported on demand.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from tasks.settings import Settings


def create_app(settings: "Settings | None" = None) -> "Flask":
    # Imported here, not above: see the docstring.
    from web.app import create_app as create

    return create(settings)
