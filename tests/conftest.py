from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy import Engine, create_engine, text

from local_servers import free_port
from tasks import database
from tasks.extensions import db
from tasks.settings import Settings
from tests import processes
from tests.auth import keyed_client
from tests.servers import TestServers, choose, test_servers
from tests.settings import settings_for
from tests.smtp_server import SmtpServer
from tests.supplier_server import SupplierServer
from web import create_app


def only_unit_tests(config: pytest.Config) -> bool:
    """Whether this run selects the unit tests alone (`-m unit`): they need no servers, so
    it neither looks for a Docker engine nor says which servers it would use."""
    return (config.getoption("markexpr", "") or "").strip() == "unit"


def pytest_configure(config: pytest.Config) -> None:
    if only_unit_tests(config):
        return
    if config.getoption("numprocesses", None) and choose()[0] == "env":
        # Every process would truncate the same tables under the others' feet.
        raise pytest.UsageError(
            "TEST_SERVERS=env gives every test process the same database and Redis: "
            "run it in one process (-n 0, or make test TEST_PROCESSES=0)"
        )


def pytest_report_header(config: pytest.Config) -> str:
    if only_unit_tests(config):
        return "test servers: none (-m unit)"
    choice, reason = choose()
    return f"test servers: {choice} ({reason}; TEST_SERVERS=auto|env|containers|embedded)"


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServers]:
    with test_servers(tmp_path_factory.mktemp("servers")) as running:
        yield running


@pytest.fixture(scope="session")
def settings(servers: TestServers) -> Settings:
    return settings_for(servers.database_url, servers.redis_url)


@pytest.fixture(scope="session")
def migrated(settings: Settings) -> Settings:
    """The schema, built by the migrations themselves (as `flask db upgrade` does)."""
    with create_app(settings).app_context():
        upgrade()
    return settings


@pytest.fixture(scope="session")
def truncating(migrated: Settings) -> Iterator[Engine]:
    """For emptying the tables between tests: not with the API's one-second timeouts, since
    a worker may still hold a lock for a moment after a test is done with it."""
    engine = create_engine(migrated.database_url, **database.engine_options(60, "tests"))
    yield engine
    engine.dispose()


def empty_tables(engine: Engine) -> None:
    tables = ", ".join(table.name for table in db.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app(migrated: Settings, truncating: Engine) -> Iterator[Flask]:
    """The API on empty tables. Emptied before the test too: not every test that writes
    uses this fixture (a system test may drive its own processes), and which module ran
    before in a test process is up to pytest-xdist."""
    empty_tables(truncating)
    app = create_app(migrated)
    yield app
    with app.app_context():
        db.engine.dispose()
    app.extensions["ledger"].engine.dispose()
    empty_tables(truncating)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client of the API with a key of every scope."""
    return keyed_client(app)


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: SmtpServer) -> SmtpServer:
    """The session's SMTP server, behaving well and with nothing received yet."""
    smtp_server.reset()
    return smtp_server


@pytest.fixture(scope="session")
def supplier_server() -> Iterator[SupplierServer]:
    server = SupplierServer()
    yield server
    server.stop()


@pytest.fixture
def supplier(supplier_server: SupplierServer) -> SupplierServer:
    supplier_server.reset()
    return supplier_server


@pytest.fixture(scope="session")
def worker_settings(smtp_server: SmtpServer, supplier_server: SupplierServer) -> dict[str, str]:
    """What the test workers run with: small chunks, quick retries, our SMTP and HTTP servers.
    Their timeouts are far above what those servers need, so that a loaded machine does not
    trip them (a retry would break a test's exact count); the tests of timeouts stall past."""
    return {
        "SUPPLIER_API_URL": supplier_server.url,
        "SUPPLIER_RATE_LIMIT": "20/second",
        "SUPPLIER_CONCURRENCY": "8",
        "SUPPLIER_CONNECT_TIMEOUT": "1",
        "SUPPLIER_READ_TIMEOUT": "5",
        "SUPPLIER_RETRIES": "3",
        "SUPPLIER_BACKOFF": "0.1",
        "BULK_CHUNK_SIZE": "500",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp_server.port),
        "SMTP_TIMEOUT": "5",
        "RETRY_BACKOFF": "1",
        "RETRY_BACKOFF_MAX": "2",
        "RETRY_MAX_ATTEMPTS": "5",
    }


@pytest.fixture(scope="session")
def worker(
    servers: TestServers,
    migrated: Settings,
    worker_settings: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    """The session's Celery worker, consuming from the test Redis; yields its log."""
    process, log = processes.start_worker(
        servers.database_url,
        servers.redis_url,
        tmp_path_factory.mktemp("worker"),
        "worker",
        **worker_settings,
    )
    try:
        yield log
    finally:
        processes.stop(process)
