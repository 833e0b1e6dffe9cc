"""The tutorial's plain Celery app, the baseline: `Celery(broker, backend)` and defaults.

celery -A bench.plain worker --concurrency 2 --pool prefork -E
"""

import os
import smtplib
from email.message import EmailMessage

from celery import Celery

app = Celery(
    "plain",
    broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"),
    backend=os.environ.get("BENCH_RESULT_BACKEND", "redis://127.0.0.1:6379/1"),
)


@app.task(name="plain.noop")
def noop() -> None:
    return None


@app.task(name="plain.send_one_email")
def send_one_email(host: str, port: int, recipient: str) -> None:
    """The naive email task: one message, on a connection of its own."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "bench@localhost", recipient, "Hello"
    message.set_content("Hello.\n")
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.send_message(message)
