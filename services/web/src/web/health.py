from flask import Blueprint, current_app

from tasks.extensions import db
from tasks.health import postgres_check, redis_check, run_checks

bp = Blueprint("health", __name__)

READINESS_DEADLINE = 0.8


@bp.get("/healthz")
def healthz() -> dict:
    """The process is up and serving; says nothing of its dependencies."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> tuple[dict, int]:
    """Postgres and Redis answer; 503 naming what does not, always within a second."""
    checks = run_checks(
        {
            "postgres": postgres_check(db.engine),
            "redis": redis_check(current_app.config["CELERY"]["broker_url"]),
        },
        READINESS_DEADLINE,
    )
    ready = all(result == "ok" for result in checks.values())
    return {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503
