from typing import Any

from tasks.extensions import db
from tasks.readiness import postgres_check, redis_check, run_checks
from tasks.settings import current_settings
from web.openapi import Blueprint
from web.schemas import HealthSchema, ReadinessSchema

bp = Blueprint("health", __name__, description="For load balancers and orchestrators.")

READINESS_DEADLINE = 0.8


@bp.get("/healthz")
@bp.response(200, HealthSchema)
def healthz() -> dict[str, str]:
    """The process is up and serving; says nothing of its dependencies."""
    return {"status": "ok"}


@bp.get("/readyz")
@bp.response(200, ReadinessSchema)
@bp.alt_response(503, schema=ReadinessSchema, description="PostgreSQL or Redis does not answer")
def readyz() -> tuple[dict[str, Any], int]:
    """Postgres and Redis answer; 503 naming what does not, always within a second."""
    checks = run_checks(
        {
            "postgres": postgres_check(db.engine),
            "redis": redis_check(current_settings().broker_url),
        },
        READINESS_DEADLINE,
    )
    ready = all(result == "ok" for result in checks.values())
    return {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503
