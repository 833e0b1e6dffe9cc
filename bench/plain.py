"""The tutorial's plain Celery app, the baseline: `Celery(broker, backend)` and defaults.

celery -A bench.plain worker --concurrency 2 --pool prefork -E
"""

import os
import smtplib
from email.message import EmailMessage

from celery import Celery

from bench.peers.protocol import mark as push_marker


def noop() -> None:
    return None


def mark(url: str, key: str) -> None:
    """The latency job of bench/peers/ (bench.peers.protocol.mark)."""
    push_marker(url, key)


def send_one_email(host: str, port: int, recipient: str) -> None:
    """The naive email task: one message, on a connection of its own."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "bench@localhost", recipient, "Hello"
    message.set_content("Hello.\n")
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.send_message(message)


def tutorial_app(broker: str, backend: str) -> Celery:
    """The app with its tasks: the worker's (below), or one of the benchmark's own, sending
    to servers that it knows only once they run."""
    app = Celery("plain", broker=broker, backend=backend)
    for name, function in (("noop", noop), ("mark", mark), ("send_one_email", send_one_email)):
        app.task(name=f"plain.{name}")(function)
    return app


app = tutorial_app(
    os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"),
    os.environ.get("BENCH_RESULT_BACKEND", "redis://127.0.0.1:6379/1"),
)
