import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, String, Text, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tasks.extensions import db


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
RETRYABLE_STATES = (JobState.FAILED, JobState.DEAD, JobState.CANCELLED)


class Job(db.Model):
    """A unit of background work as the API reports it; its id is the Celery task id."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled')",
            name="state_known",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The X-Request-ID of the request that started the job, and of the last that retried it:
    # its task's log lines name the latter if there is one (tasks/observability/ids.py).
    request_id: Mapped[str | None] = mapped_column(String(128))
    retry_request_id: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED, index=True)
    # Deliveries of the task that started running since the job was last (re)queued by
    # someone: Redis keeps no delivery count. Reset by a retry.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # Every delivery ever claimed; never reset. A delivery's number is its token: the
    # hooks of an older delivery cannot overwrite what a newer one recorded.
    deliveries: Mapped[int] = mapped_column(default=0, server_default="0")
    progress_done: Mapped[int | None]
    progress_total: Mapped[int | None]
    # Resumable work: where it got to, as its task says it (any JSON), committed with the work.
    checkpoint: Mapped[Any | None] = mapped_column(JSONB(none_as_null=True))
    result: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def latest_request_id(self) -> str | None:
        """The request behind the job's latest queueing (its start, or an API retry)."""
        return self.retry_request_id or self.request_id
