"""Email from the outbox over SMTP: one connection per delivery, messages sent in batches.

Each batch is marked `sending` (committed) before the server sees it, and `sent` once the
server accepted it. A worker that dies in between leaves messages whose fate is unknown: the
next delivery finds them `sending` and, as MAIL_UNCONFIRMED says, sends them again with the
same Message-ID (at least once) or holds them for an operator (at most once).
"""

import smtplib
import ssl
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Row, func, select, update

from tasks.errors import DEPENDENCY_ERRORS, TransientError
from tasks.extensions import db
from tasks.job_lifecycle import JobContext, job_task
from tasks.models import MessageState, OutboxMessage, Product
from tasks.settings import Settings, current_settings

ALERT_SUBJECTS = {
    "price_drop": "Price drop: {name} is now {price}",
    "back_in_stock": "Back in stock: {name}",
}


class TransientMailError(TransientError):
    """The SMTP server is down, slow, or answered 4xx: try again later."""


class PermanentMailError(Exception):
    """Some messages were refused for good (5xx), or are held with their fate unknown."""


def outbox_alerts(job_id: uuid.UUID, product: Product, reason: str, recipients: list[str]) -> None:
    """Write one outbox message per recipient, in the caller's transaction."""
    subject = ALERT_SUBJECTS[reason].format(name=product.name, price=product.price)
    body = f"{product.name} ({product.sku}) costs {product.price}; {product.stock} in stock.\n"
    db.session.add_all(
        OutboxMessage(job_id=job_id, recipient=to, subject=subject, body=body) for to in recipients
    )


def _message_id(message: Row[Any]) -> str:
    # The same Message-ID on every attempt, so a receiver can tell a duplicate.
    return f"<outbox-{message.id}.{message.job_id}@products>"


def _email(message: Row[Any], mail_from: str) -> EmailMessage:
    email = EmailMessage(policy=policy.SMTP)
    email["From"] = mail_from
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = _message_id(message)
    email.set_content(message.body)
    return email


class _Sender:
    """Sends a batch's messages. Those of one alert differ only in To and Message-ID, so the
    rest of each (From, Subject, the body and its MIME headers) is rendered once: parsing
    those headers anew for every message is most of what the email package would cost."""

    def __init__(self, smtp: smtplib.SMTP, mail_from: str) -> None:
        self.smtp, self.mail_from = smtp, mail_from
        self.envelope_from = parseaddr(mail_from)[1]
        self._rendered: dict[tuple[str, str], bytes] = {}

    def send(self, message: Row[Any]) -> None:
        if not message.recipient.isascii():
            # An internationalised address: email and smtplib negotiate SMTPUTF8 for it.
            self.smtp.send_message(_email(message, self.mail_from))
            return
        key = (message.subject, message.body)
        if key not in self._rendered:
            email = EmailMessage(policy=policy.SMTP)
            email["From"] = self.mail_from
            email["Subject"] = message.subject
            email.set_content(message.body)
            self._rendered[key] = email.as_bytes()
        # ASCII values fold to "Name: value" as they are (the policy parses no header).
        head = policy.SMTP.fold_binary("To", message.recipient) + policy.SMTP.fold_binary(
            "Message-ID", _message_id(message)
        )
        self.smtp.sendmail(self.envelope_from, [message.recipient], head + self._rendered[key])


@contextmanager
def smtp_connection(settings: Settings) -> Iterator[smtplib.SMTP]:
    host, port, timeout = settings.smtp_host, settings.smtp_port_or_default, settings.smtp_timeout
    try:
        if settings.smtp_security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            password = settings.smtp_password
            smtp.login(settings.smtp_username, password.get_secret_value() if password else "")
    except (OSError, smtplib.SMTPException) as error:
        raise TransientMailError(f"cannot reach {host}:{port}: {error}") from error
    try:
        yield smtp
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _refusal_code(error: Exception) -> int | None:
    """The SMTP reply code that refused a message; None when no reply came (network error)."""
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return max(code for code, _ in error.recipients.values())
    return None


@dataclass
class _Outcome:
    """What became of a batch, recorded in one transaction."""

    sent: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    unsent: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)

    def record(self, unconfirmed: str) -> None:
        def settle(ids: Sequence[int], **values: Any) -> None:
            if ids:
                db.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids), OutboxMessage.state == MessageState.SENDING)
                    .values(**values)
                )

        settle(self.sent, state=MessageState.SENT, sent_at=func.now(), error=None)
        for message_id, error in self.refused.items():
            settle([message_id], state=MessageState.FAILED, error=error)
        settle(self.unsent, state=MessageState.PENDING)
        settle(self.unknown, state=_unconfirmed_state(unconfirmed))
        db.session.commit()


def _unconfirmed_state(policy: str) -> MessageState:
    return MessageState.HELD if policy == "hold" else MessageState.PENDING


def _settle_unconfirmed(job_id: uuid.UUID, policy: str) -> None:
    """Messages an earlier delivery left `sending`: their worker died mid-send."""
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.job_id == job_id, OutboxMessage.state == MessageState.SENDING)
        .values(state=_unconfirmed_state(policy))
    )
    db.session.commit()


def _claim_batch(job: JobContext, size: int) -> list[Row[Any]]:
    """Mark the next pending messages `sending` and commit, before the server sees them
    (unless the job is no longer this delivery's: then nothing is claimed)."""
    chosen = (
        select(OutboxMessage.id)
        .where(OutboxMessage.job_id == job.job_id, OutboxMessage.state == MessageState.PENDING)
        .order_by(OutboxMessage.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    batch = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(chosen.scalar_subquery()))
        .values(state=MessageState.SENDING, attempts=OutboxMessage.attempts + 1)
        .returning(
            OutboxMessage.id,
            OutboxMessage.job_id,
            OutboxMessage.recipient,
            OutboxMessage.subject,
            OutboxMessage.body,
        )
    ).all()
    job.commit()
    return sorted(batch, key=lambda message: message.id)


def _send_batch(sender: _Sender, batch: list[Row[Any]], unconfirmed: str) -> None:
    """Send each message; a 5xx fails that message, a 4xx or a network error stops the batch
    for a retry, keeping what was sent."""
    outcome = _Outcome()
    for index, message in enumerate(batch):
        try:
            sender.send(message)
        except (OSError, smtplib.SMTPException) as error:
            code = _refusal_code(error)
            if code is not None and 500 <= code < 600:
                outcome.refused[message.id] = str(error)
                continue
            # A reply (4xx) means the server did not take it; no reply means it may have.
            (outcome.unsent if code is not None else outcome.unknown).append(message.id)
            outcome.unsent += [later.id for later in batch[index + 1 :]]
            outcome.record(unconfirmed)
            raise TransientMailError(f"sending to {message.recipient} failed: {error}") from error
        outcome.sent.append(message.id)
    outcome.record(unconfirmed)


def _summary(job_id: uuid.UUID) -> dict[str, int]:
    counts = dict(
        db.session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.job_id == job_id)
            .group_by(OutboxMessage.state)
        ).all()
    )
    db.session.commit()
    return {state.value: counts.get(state.value, 0) for state in MessageState}


def send_outbox(job: JobContext) -> dict[str, int]:
    """Send the job's pending messages over one connection, a batch at a time."""
    job_id = job.job_id
    settings = current_settings()
    _settle_unconfirmed(job_id, settings.mail_unconfirmed)
    if _summary(job_id)["pending"]:
        with smtp_connection(settings) as smtp:
            sender = _Sender(smtp, settings.mail_from)
            while batch := _claim_batch(job, settings.mail_batch_size):
                _send_batch(sender, batch, settings.mail_unconfirmed)
    summary = _summary(job_id)
    problems = []
    if summary["failed"]:
        problems.append(f"{summary['failed']} were refused for good")
    if summary["held"]:
        problems.append(
            f"{summary['held']} are held: their delivery is unconfirmed (a worker died while "
            "sending them); retry the job to send them again"
        )
    if problems:
        total = sum(summary.values())
        raise PermanentMailError(f"of {total} messages, {' and '.join(problems)}")
    return summary


@job_task(name="tasks.send_product_alert", autoretry_for=(TransientMailError, *DEPENDENCY_ERRORS))
def send_product_alert(job: JobContext, **arguments: Any) -> dict[str, int]:
    """Email a product alert to its recipients; the messages wait in the outbox."""
    return send_outbox(job)
