"""The products API as a Flask app; `web.create_app` imports this module when it is called."""

from flask import Flask

import tasks
from tasks.config import Settings
from web import database_deadline, errors, payload
from web.extensions import ma
from web.health import bp as health_bp
from web.jobs import bp as jobs_bp
from web.products import bp as products_bp


def create_app(settings: Settings | None = None) -> Flask:
    app = tasks.create_app((settings or Settings.from_env()).for_api(), import_name=__name__)
    ma.init_app(app)
    errors.register(app)
    payload.register(app)
    database_deadline.register(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(products_bp)
    app.register_blueprint(jobs_bp)
    return app
