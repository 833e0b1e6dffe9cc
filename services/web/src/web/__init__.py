"""The products HTTP API: `web:create_app()`.

Importing this package imports nothing else. gunicorn's master process imports
web.gunicorn_conf and web.gunicorn_worker, and with them this package, before it forks the
workers; each gevent worker must monkey-patch the standard library before the app's modules
(Celery, redis-py, SQLAlchemy, the readiness checks' thread pool) are imported. Imported in
the master, that thread pool kept a real, blocking queue, and the first /readyz blocked the
whole worker. So create_app imports what it builds the app from when it is called.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Blueprint

    from tasks.settings import Settings


def create_app(
    settings: "Settings | None" = None, blueprints: "Iterable[Blueprint]" = ()
) -> "Flask":
    """The API on the shared app of `tasks`, with the settings of a web process; `blueprints`
    adds endpoints of your own (web.job_views.starts_job makes one start a job)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    import tasks
    from tasks.settings import Settings, current_settings
    from web import (
        database_deadline,
        error_handler,
        metrics,
        rate_limits,
        request_ids,
        strict_input,
    )
    from web.health_views import bp as health_bp
    from web.job_views import bp as jobs_bp
    from web.metrics import bp as metrics_bp
    from web.openapi import create_api
    from web.product_views import bp as products_bp
    from web.report_views import bp as reports_bp
    from web.schemas import AsciiIntegerConverter, ma

    app = tasks.create_app((settings or Settings()).for_api(), import_name=__name__)
    if proxies := current_settings(app).trusted_proxies:
        # The client's address (per-address rate limits, logs) from X-Forwarded-For, as set
        # by that many proxies in front (Heroku's router: 1).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    # Ids in paths are ASCII digits: werkzeug's own int takes other scripts' digits too.
    app.url_map.converters["int"] = AsciiIntegerConverter
    ma.init_app(app)
    for part in (metrics, request_ids, error_handler, strict_input, database_deadline, rate_limits):
        part.register(app)
    api = create_api(app)
    for blueprint in (health_bp, products_bp, jobs_bp, reports_bp, metrics_bp, *blueprints):
        api.register_blueprint(blueprint)
    return app
