"""The Flask app every process shares (settings, database, CLI) and its Celery app, as in
Flask's examples/celery: `create_app` and `celery_init_app`, whose FlaskTask runs every task
inside the app context."""

from pathlib import Path
from typing import Any, ClassVar

from celery import Celery, Task
from celery.exceptions import Reject
from flask import Flask

from tasks import database
from tasks.celery_config import celery_config
from tasks.cli import jobs_cli, keys_cli, products_cli, roles_cli
from tasks.extensions import db, migrate
from tasks.ledger import Ledger
from tasks.observability.logs import configure_logging
from tasks.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class RetryNotPublished(Reject):
    """A retry Redis did not take: the delivery's message is handed back (requeued) instead
    of dropped, as Celery would. Back to its queue if Redis takes it by then, else Redis
    delivers it again after the visibility timeout."""

    def __init__(self, reason: Any, exc: BaseException | None) -> None:
        super().__init__(reason, requeue=True)
        self.exc = exc


class FlaskTask(Task):
    """Runs inside its Flask app's context. Retries as the task declares (Celery's
    `autoretry_for` and friends), with the RETRY_* settings for the numbers it leaves out."""

    # Remembers the ids of each message received, for the consumer's log line to name.
    Request = "tasks.observability.received_ids:IdentifiedRequest"
    autoretry_for: tuple[type[BaseException], ...] = ()
    retry_jitter = True
    # Left None by a task, these come from the configuration (tasks/celery_config.py) when
    # the task is bound to its app; Celery's own defaults with another app.
    max_retries: int | None = None
    retry_backoff: int | None = None
    retry_backoff_max: int | None = None
    RETRY_CONFIGURATION: ClassVar[dict[str, tuple[str, Any]]] = {
        "max_retries": ("task_max_retries", 3),
        "retry_backoff": ("task_retry_backoff", False),
        "retry_backoff_max": ("task_retry_backoff_max", 600),
    }

    @classmethod
    def bind(cls, app: Celery) -> Any:
        for attribute, (key, default) in cls.RETRY_CONFIGURATION.items():
            if getattr(cls, attribute) is None:
                setattr(cls, attribute, app.conf.get(key, default))
        return super().bind(app)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.app.flask_app.app_context():
            return self.run(*args, **kwargs)

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().retry(*args, **kwargs)
        except Reject as unpublished:
            raise RetryNotPublished(unpublished.reason, kwargs.get("exc")) from None


def celery_init_app(app: Flask, settings: Settings) -> Celery:
    """The Celery app of `app`: FlaskTask for every task, the stack's configuration, and
    every module of the slow work (tasks/work/, and CELERY_IMPORTS) imported."""
    celery_app = Celery(app.import_name, task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(settings))
    celery_app.flask_app = app
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    celery_app.loader.import_default_modules()
    return celery_app


def create_app(settings: Settings | None = None, import_name: str = "tasks") -> Flask:
    """The Flask app every process shares: configuration, database, ledger and Celery."""
    settings = settings or Settings()
    if settings.process_type:
        configure_logging(settings.process_type, settings.log_format, settings.log_level)
    app = Flask(import_name)
    # Flask's and Flask-SQLAlchemy's own keys; the rest of the code reads `settings`.
    engine_options = database.engine_options(settings.database_timeout, "products")
    app.config.update(
        TESTING=settings.app_env == "test",
        SECRET_KEY=settings.secret_key.get_secret_value(),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options,
    )
    app.extensions["settings"] = settings
    database.install()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    app.extensions["ledger"] = Ledger(settings.database_url, engine_options)
    for command in (products_cli, jobs_cli, keys_cli, roles_cli):
        app.cli.add_command(command)
    celery_init_app(app, settings)
    return app
