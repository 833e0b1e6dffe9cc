from pathlib import Path

from flask import Flask

from tasks import database
from tasks.celery_app import celery_init_app
from tasks.cli import jobs_cli, keys_cli, products_cli, roles_cli
from tasks.config import Settings
from tasks.extensions import db, migrate

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, import_name: str = "tasks") -> Flask:
    """The Flask app every process shares: configuration, database and Celery."""
    app = Flask(import_name)
    app.config.from_mapping((settings or Settings.from_env()).flask_config())
    database.install()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    celery_init_app(app)
    app.cli.add_command(products_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(roles_cli)
    return app
