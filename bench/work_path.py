"""The slow work itself: email through the outbox, a bulk price change, a supplier sync, each
against what the same work costs done plainly, in the same run."""

import smtplib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text, update

from bench.harness import Row, Servers, timed, worker
from bench.tasks_path import PLAIN_OPTIONS, STACK_OPTIONS
from devstack import supplier as supplier_stand_in
from local_servers import free_port
from tasks import database
from tasks.extensions import db
from tasks.jobs import start_job
from tasks.models import Job, JobState, Product
from tasks.seeding import seed_products
from tasks.work.email_alerts import outbox_alerts, send_product_alert
from tasks.work.price_changes import PriceChange, apply_price_change_task
from tasks.work.supplier_sync import sync_products_task
from web import create_app


class _Sink:
    """An SMTP server's handler that takes every message and counts them."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


@contextmanager
def smtp_sink() -> Iterator[tuple[int, _Sink]]:
    handler, port = _Sink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def _finished(app: Any, job_id: Any) -> bool:
    with app.app_context():
        state = db.session.scalar(select(Job.state).where(Job.id == job_id))
        db.session.rollback()
    if state in (JobState.FAILED, JobState.DEAD, JobState.CANCELLED):
        raise RuntimeError(f"job {job_id} ended {state}")
    return state == JobState.SUCCEEDED


def _a_product(app: Any) -> Product:
    with app.app_context():
        db.session.execute(text("TRUNCATE products, jobs CASCADE"))
        product = Product(sku="BENCH-1", name="Lamp", price=10, stock=1)
        db.session.add(product)
        db.session.flush()
        db.session.expunge(product)
        db.session.commit()
        return product


def email(servers: Servers, count: int) -> Row:
    with smtp_sink() as (port, sink):
        smtp = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)}
        app = create_app(servers.settings(10, **smtp))
        servers.empty_redis(10)
        product = _a_product(app)
        recipients = [f"person{n}@example.com" for n in range(count)]
        log = servers.scratch / "email.log"
        with worker("bench.stack", servers.environment(10, **smtp), log, *STACK_OPTIONS):
            with app.app_context():
                job, _ = start_job(
                    send_product_alert,
                    {"product_id": product.id, "reason": "price_drop"},
                    with_job=lambda job_id: outbox_alerts(
                        job_id, product, "price_drop", recipients
                    ),
                )
            outbox = count / timed(lambda: _finished(app, job.id), 900, "the alert job to end")

        started, sent = time.perf_counter(), sink.count
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as connection:
            for recipient in recipients:
                message = EmailMessage()
                message["From"], message["To"] = "bench@localhost", recipient
                message["Subject"] = "Price drop: Lamp is now 10.00"
                message.set_content("Lamp (BENCH-1) costs 10.00; 1 in stock.\n")
                connection.send_message(message)
        raw = count / (time.perf_counter() - started)
        assert sink.count - sent == count

        naive = _naive_email(servers, port, sink, count)
    return Row(
        "email",
        outbox,
        raw,
        "messages/s",
        "≥ 0.8x; ≥ 5x a task per message",
        outbox >= 0.8 * raw and outbox >= 5 * naive,
        f"one job of {count} recipients; raw smtplib on one connection; a task per message "
        f"with a connection each: {naive:.0f}/s ({outbox / naive:.1f}x slower than the outbox)",
    )


def _naive_email(servers: Servers, port: int, sink: _Sink, count: int) -> float:
    from bench.plain import app as plain

    broker, backend = servers.redis_url(11), servers.redis_url(12)
    servers.empty_redis(11)
    servers.empty_redis(12)
    plain.conf.broker_url, plain.conf.result_backend = broker, backend
    with plain.connection_for_write() as connection:
        for n in range(count):
            plain.send_task(
                "plain.send_one_email",
                args=("127.0.0.1", port, f"person{n}@example.com"),
                connection=connection,
            )
    before = sink.count
    environment = {"BENCH_BROKER_URL": broker, "BENCH_RESULT_BACKEND": backend}
    with worker("bench.plain", environment, servers.scratch / "naive-email.log", *PLAIN_OPTIONS):
        seconds = timed(lambda: sink.count - before >= count, 900, "the naive email tasks")
    return count / seconds


def _fresh_products(app: Any, count: int, prefix: str) -> None:
    """`count` freshly seeded products and no jobs: a run starts on a table without an
    earlier run's dead rows."""
    with app.app_context(), database.blocking_waits():
        db.session.execute(text("TRUNCATE products, jobs RESTART IDENTITY CASCADE"))
        db.session.commit()
        seed_products(count, prefix, seed=count)
        db.session.execute(text("SET LOCAL statement_timeout = 0"))
        db.session.execute(text("ANALYZE products"))
        db.session.commit()


def bulk_price_change(servers: Servers, count: int) -> Row:
    app = create_app(servers.settings(13))
    servers.empty_redis(13)
    change = PriceChange.from_arguments({"percent": "1"})
    _fresh_products(app, count, "BULK-")
    # The requests' timeouts (client and server) are not meant for one statement on every row.
    with app.app_context(), database.blocking_waits():
        db.session.execute(text("SET LOCAL statement_timeout = 0"))
        started = time.perf_counter()
        db.session.execute(
            update(Product)
            .where(change.matches())
            .values(price=change.new_price(), updated_at=func.now()),
            execution_options={"synchronize_session": False},
        )
        db.session.commit()
        one_statement = time.perf_counter() - started
    _fresh_products(app, count, "BULK-")
    log = servers.scratch / "bulk.log"
    with worker("bench.stack", servers.environment(13), log, *STACK_OPTIONS):
        with app.app_context():
            job, _ = start_job(apply_price_change_task, {"percent": "1"})
        job_seconds = timed(lambda: _finished(app, job.id), 1800, "the price change to end")
    return Row(
        "bulk price change",
        count / job_seconds,
        count / one_statement,
        "rows/s",
        "≥ 0.7x",
        one_statement / job_seconds >= 0.7,
        f"{count} rows: the job (chunks of BULK_CHUNK_SIZE, checkpoint and progress each) "
        f"{job_seconds:.1f} s; one UPDATE of price and updated_at {one_statement:.1f} s",
    )


class _Arrivals:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def busiest_second(self) -> int:
        """The most calls in any one second (a window sliding over the arrivals)."""
        times = sorted(self.times)
        most, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            most = max(most, end - start + 1)
        return most

    def busiest_clock_second(self) -> int:
        """The most calls in one second of the clock (a fixed window, as many APIs count)."""
        return max(Counter(int(at) for at in self.times).values(), default=0)


@contextmanager
def supplier(latency: float) -> Iterator[tuple[str, _Arrivals]]:
    """devstack's supplier stand-in, answering after `latency` seconds, counting arrivals."""
    arrivals = _Arrivals()

    class Counting(supplier_stand_in.handler((latency, latency))):  # type: ignore[misc]
        def do_GET(self) -> None:
            with arrivals.lock:
                arrivals.times.append(time.time())
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = supplier_stand_in.serve("127.0.0.1", 0, (latency, latency))
    server.RequestHandlerClass = Counting
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", arrivals
    finally:
        server.shutdown()
        server.server_close()


def _sync_stack(
    servers: Servers, url: str, concurrency: int, rate_limit: str
) -> tuple[Any, dict[str, str]]:
    """An app, and an io worker's environment, syncing from `url` on Redis database 14."""
    settings = {
        "SUPPLIER_API_URL": url,
        "SUPPLIER_CONCURRENCY": str(concurrency),
        "SUPPLIER_RATE_LIMIT": rate_limit,
    }
    servers.empty_redis(14)
    return create_app(servers.settings(14, **settings)), servers.environment(14, **settings)


IO_OPTIONS = ("--pool", "threads", "--concurrency", "4", "--queues", "io")


def supplier_sync(servers: Servers, count: int, latency: float = 0.2) -> Row:
    concurrency = 8
    with supplier(latency) as (url, _):
        app, environment = _sync_stack(servers, url, concurrency, "100000/second")
        _fresh_products(app, count, "SYNC-")
        log = servers.scratch / "sync.log"
        with worker("bench.stack", environment, log, *IO_OPTIONS):
            with app.app_context():
                job, _ = start_job(sync_products_task, {"product_ids": None})
            seconds = timed(lambda: _finished(app, job.id), 900, "the sync to end")
    rate, ceiling = count / seconds, concurrency / latency
    (held, held_by_clock), limit = _rate_limit_held(servers, min(count, 100), latency)
    return Row(
        "supplier sync",
        rate,
        ceiling,
        "calls/s",
        "≥ 0.9x; the rate limit held within 5 %",
        rate >= 0.9 * ceiling and held <= limit * 1.05,
        f"{count} products, {concurrency} in flight, {latency * 1000:.0f} ms each: ceiling "
        f"{ceiling:.0f}/s; two workers under {limit}/second: the supplier saw at most {held} "
        f"in any one second ({held_by_clock} in one second of the clock)",
    )


def _rate_limit_held(servers: Servers, count: int, latency: float) -> tuple[tuple[int, int], int]:
    """Two io workers, a sync each of `count` products, sharing SUPPLIER_RATE_LIMIT: the most
    calls that reached the supplier in any one second."""
    limit = 20
    with supplier(latency / 4) as (url, arrivals):
        app, environment = _sync_stack(servers, url, 8, f"{limit}/second")
        _fresh_products(app, count, "HELD-")
        with (
            worker("bench.stack", environment, servers.scratch / "io-a.log", *IO_OPTIONS),
            worker("bench.stack", environment, servers.scratch / "io-b.log", *IO_OPTIONS),
            app.app_context(),
        ):
            jobs = [start_job(sync_products_task, {"product_ids": None})[0] for _ in range(2)]
            timed(lambda: all(_finished(app, job.id) for job in jobs), 900, "both syncs")
            db.session.rollback()
            calls = db.session.scalar(select(func.count()).select_from(Product))
    assert len(arrivals.times) >= 2 * calls
    return (arrivals.busiest_second(), arrivals.busiest_clock_second()), limit
