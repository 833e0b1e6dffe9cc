import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, String, Text, Uuid, func, text
from sqlalchemy.orm import Mapped, mapped_column

from tasks.extensions import db


class MessageState(StrEnum):
    PENDING = "pending"
    # Handed to the SMTP server by a delivery that has not recorded the outcome yet. Found
    # so by a later delivery, its fate is unknown: its worker died mid-send.
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # Fate unknown and MAIL_UNCONFIRMED=hold: kept for an operator; a job retry resends it.
    HELD = "held"


class OutboxMessage(db.Model):
    """An email to send, written in the same transaction as the request that asked for it."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'held')", name="state_known"
        ),
        # A job's next pending messages, in order, for each batch (tasks/work/email_alerts.py).
        Index(
            "ix_outbox_messages_pending",
            "job_id",
            "id",
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=MessageState.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
