"""The products API as a Flask app; `web.create_app` imports this module when it is called."""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import tasks
from tasks.settings import Settings, current_settings
from web import database_deadline, errors, payload, rate_limits
from web.extensions import ma
from web.health_views import bp as health_bp
from web.job_views import bp as jobs_bp
from web.openapi import create_api
from web.product_views import bp as products_bp


def create_app(settings: Settings | None = None) -> Flask:
    app = tasks.create_app((settings or Settings()).for_api(), import_name=__name__)
    if proxies := current_settings(app).trusted_proxies:
        # The client's address (per-address rate limits, logs) from X-Forwarded-For, as
        # set by that many proxies in front (Heroku's router: 1).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    ma.init_app(app)
    errors.register(app)
    payload.register(app)
    database_deadline.register(app)
    rate_limits.register(app)
    api = create_api(app)
    for blueprint in (health_bp, products_bp, jobs_bp):
        api.register_blueprint(blueprint)
    return app
