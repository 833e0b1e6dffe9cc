from pathlib import Path

from flask import Flask

from tasks import database
from tasks.celery_app import celery_init_app
from tasks.cli import jobs_cli, keys_cli, products_cli, roles_cli
from tasks.extensions import db, migrate
from tasks.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, import_name: str = "tasks") -> Flask:
    """The Flask app every process shares: configuration, database and Celery."""
    settings = settings or Settings()
    app = Flask(import_name)
    # Flask's and Flask-SQLAlchemy's own keys; the rest of the code reads `settings`.
    app.config.update(
        TESTING=settings.app_env == "test",
        SECRET_KEY=settings.secret_key.get_secret_value(),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=database.engine_options(settings.database_timeout, "products"),
    )
    app.extensions["settings"] = settings
    database.install()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    celery_init_app(app)
    app.cli.add_command(products_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(roles_cli)
    return app
