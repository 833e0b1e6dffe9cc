import smtplib
import uuid
from decimal import Decimal
from email import message_from_bytes, policy
from typing import NamedTuple

import pytest

from tasks.extensions import db
from tasks.models import OutboxMessage, Product
from tasks.work.email_alerts import _message_id, _refusal_code, _Sender, outbox_alerts

pytestmark = pytest.mark.unit

JOB_ID = uuid.UUID("6f1c2a34-0000-4000-8000-0000000000aa")
MAIL_FROM = "Products <alerts@example.com>"


class Message(NamedTuple):
    """An outbox row as the sender is given it."""

    id: int
    job_id: uuid.UUID
    recipient: str
    subject: str
    body: str


def message(id: int = 7, recipient: str = "ann@example.com", **fields: str) -> Message:
    texts = {"subject": "Price drop: Kettle is now 9.99", "body": "Kettle costs 9.99.\n", **fields}
    return Message(id, JOB_ID, recipient, texts["subject"], texts["body"])


class RecordingSmtp:
    """Stands in for smtplib.SMTP: keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], bytes]] = []
        self.messages = []

    def sendmail(self, from_addr: str, to_addrs: list[str], msg: bytes) -> dict:
        self.sent.append((from_addr, to_addrs, msg))
        return {}

    def send_message(self, msg) -> dict:
        self.messages.append(msg)
        return {}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (smtplib.SMTPDataError(554, b"rejected"), 554),
        (smtplib.SMTPRecipientsRefused({"b@example.com": (550, b"no such user")}), 550),
        (smtplib.SMTPServerDisconnected("gone"), None),
    ],
    ids=["reply", "recipient", "no-reply"],
)
def test_the_refusal_code_is_the_servers_reply_and_none_without_one(error, code):
    assert _refusal_code(error) == code


def parsed(sent: bytes):
    return message_from_bytes(sent, policy=policy.SMTP)


def test_a_message_to_an_ascii_address_is_sent_with_its_headers_and_body():
    smtp = RecordingSmtp()
    _Sender(smtp, MAIL_FROM).send(message(subject="Price drop: Café Mug is now 4.50"))
    ((envelope_from, to, sent),) = smtp.sent
    assert (envelope_from, to) == ("alerts@example.com", ["ann@example.com"])
    email = parsed(sent)
    assert email["From"] == MAIL_FROM
    assert email["To"] == "ann@example.com"
    assert email["Subject"] == "Price drop: Café Mug is now 4.50"
    assert email["Message-ID"] == f"<outbox-7.{JOB_ID}@products>"
    assert email.get_content() == "Kettle costs 9.99.\r\n", "lines end in CRLF, as SMTP has them"
    assert sent.isascii(), "non-ASCII text is encoded for any server"


def test_messages_of_one_alert_differ_only_in_recipient_and_message_id():
    smtp = RecordingSmtp()
    sender = _Sender(smtp, MAIL_FROM)
    for id, recipient in ((1, "ann@example.com"), (2, "bob@example.com")):
        sender.send(message(id=id, recipient=recipient))
    sender.send(message(id=3, subject="Back in stock: Kettle"))
    first, second, other = (sent for *_, sent in smtp.sent)
    assert first.split(b"\r\n", 2)[2] == second.split(b"\r\n", 2)[2]
    assert (parsed(second)["To"], parsed(second)["Message-ID"]) == (
        "bob@example.com",
        _message_id(message(id=2)),
    )
    assert parsed(other)["Subject"] == "Back in stock: Kettle"
    assert len(sender._rendered) == 2, "rendered once per subject and body"


def test_a_message_to_an_internationalised_address_goes_through_send_message():
    smtp = RecordingSmtp()
    _Sender(smtp, MAIL_FROM).send(message(recipient="zoë@example.com"))
    assert smtp.sent == []
    (email,) = smtp.messages
    assert (email["To"], email["From"]) == ("zoë@example.com", MAIL_FROM)
    assert email["Message-ID"] == f"<outbox-7.{JOB_ID}@products>"
    assert email.get_content() == "Kettle costs 9.99.\n"


@pytest.mark.parametrize(
    ("reason", "subject"),
    [
        ("price_drop", "Price drop: Oak Chair is now 49.90"),
        ("back_in_stock", "Back in stock: Oak Chair"),
    ],
)
def test_an_alert_writes_one_message_per_recipient_with_its_subject(tasks_app, reason, subject):
    product = Product(sku="OAK-1", name="Oak Chair", price=Decimal("49.90"), stock=3)
    with tasks_app.app_context():
        outbox_alerts(JOB_ID, product, reason, ["a@example.com", "b@example.com"])
        written = [item for item in db.session.new if isinstance(item, OutboxMessage)]
        db.session.expunge_all()
    assert sorted(m.recipient for m in written) == ["a@example.com", "b@example.com"]
    assert {(m.job_id, m.subject, m.body) for m in written} == {
        (JOB_ID, subject, "Oak Chair (OAK-1) costs 49.90; 3 in stock.\n")
    }
