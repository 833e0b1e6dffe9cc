"""Email from the outbox over SMTP: one connection per batch, each message sent once."""

import smtplib
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from celery import shared_task
from flask import current_app
from sqlalchemy import func, select

from tasks.config import SmtpSettings
from tasks.errors import TransientError
from tasks.extensions import db
from tasks.models import MessageState, OutboxMessage, Product
from tasks.retrying import retry_later

ALERT_SUBJECTS = {
    "price_drop": "Price drop: {name} is now {price}",
    "back_in_stock": "Back in stock: {name}",
}


class TransientMailError(TransientError):
    """The SMTP server is down, slow, or answered 4xx: try again later."""


class PermanentMailError(Exception):
    """Some messages were refused for good (5xx)."""


def outbox_alerts(job_id: uuid.UUID, product: Product, reason: str, recipients: list[str]) -> None:
    """Write one outbox message per recipient, in the caller's transaction."""
    subject = ALERT_SUBJECTS[reason].format(name=product.name, price=product.price)
    body = f"{product.name} ({product.sku}) costs {product.price}; {product.stock} in stock.\n"
    db.session.add_all(
        OutboxMessage(job_id=job_id, recipient=to, subject=subject, body=body) for to in recipients
    )


def _email(message: OutboxMessage, mail_from: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = message.recipient
    email["Subject"] = message.subject
    # The same Message-ID on every attempt, so a receiver can tell a duplicate.
    email["Message-ID"] = f"<outbox-{message.id}.{message.job_id}@products>"
    email.set_content(message.body)
    return email


@contextmanager
def smtp_connection(settings: SmtpSettings) -> Iterator[smtplib.SMTP]:
    try:
        if settings.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host,
                settings.port,
                timeout=settings.timeout,
                context=ssl.create_default_context(),
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, settings.password or "")
    except (OSError, smtplib.SMTPException) as error:
        raise TransientMailError(
            f"cannot reach {settings.host}:{settings.port}: {error}"
        ) from error
    try:
        yield smtp
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _refusal_code(error: smtplib.SMTPException) -> int | None:
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return max(code for code, _ in error.recipients.values())
    return None


def send_outbox(job_id: uuid.UUID) -> dict[str, int]:
    """Send the job's pending messages over one connection.

    Each message is locked while it is sent and marked sent in the same transaction, so
    two deliveries of the task never both send it. A 5xx refusal fails that message at
    once; a 4xx or a network error stops the batch for a retry, keeping what was sent.
    """
    settings: SmtpSettings = current_app.config["SMTP"]
    pending = db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.job_id == job_id, OutboxMessage.state == MessageState.PENDING)
        .order_by(OutboxMessage.id)
    ).all()
    db.session.commit()
    if pending:
        with smtp_connection(settings) as smtp:
            for outbox_id in pending:
                _send_one(smtp, outbox_id, settings.mail_from)
    counts = dict(
        db.session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.job_id == job_id)
            .group_by(OutboxMessage.state)
        ).all()
    )
    summary = {state.value: counts.get(state.value, 0) for state in MessageState}
    if summary["failed"]:
        raise PermanentMailError(
            f"{summary['failed']} of {sum(summary.values())} messages were refused for good"
        )
    return summary


def _send_one(smtp: smtplib.SMTP, outbox_id: int, mail_from: str) -> None:
    message = db.session.scalar(
        select(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.state == MessageState.PENDING)
        .with_for_update(skip_locked=True)
    )
    if message is None:  # sent meanwhile, or being sent by another delivery
        db.session.commit()
        return
    message.attempts += 1
    try:
        smtp.send_message(_email(message, mail_from))
    except (OSError, smtplib.SMTPException) as error:
        code = _refusal_code(error)
        if code is not None and 500 <= code < 600:
            message.state, message.error = MessageState.FAILED, str(error)
            db.session.commit()
            return
        db.session.rollback()
        raise TransientMailError(f"sending to {message.recipient} failed: {error}") from error
    message.state, message.sent_at, message.error = MessageState.SENT, func.now(), None
    db.session.commit()


@shared_task(name="tasks.send_product_alert", bind=True)
def send_product_alert(self: Any, **arguments: Any) -> dict[str, int]:
    """Email a product alert to its recipients; the messages wait in the outbox."""
    try:
        return send_outbox(uuid.UUID(self.request.id))
    except TransientMailError as error:
        retry_later(self, error)
