"""The role web and workers run as can read and write rows, and nothing more."""

import secrets
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from psycopg2 import errors

from tasks.roles import grant_app_role
from tests.auth import keyed_client
from tests.settings import settings_for
from web import create_app

pytestmark = pytest.mark.integration

ROLE = "products_app_test"


@pytest.fixture
def app_role_url(app, migrated) -> str:
    """The test database's URL, as the app role (made as the release step makes it)."""
    password = secrets.token_urlsafe(16)
    with app.app_context():
        grant_app_role(ROLE, password)
    parts = urlsplit(migrated.database_url.replace("postgresql+psycopg2://", "postgresql://"))
    return urlunsplit(parts._replace(netloc=f"{ROLE}:{password}@{parts.hostname}:{parts.port}"))


def run(url: str, statement: str) -> None:
    connection = psycopg2.connect(url)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE products",
        "ALTER TABLE products ADD COLUMN intruder int",
        "TRUNCATE products",
        "UPDATE alembic_version SET version_num = 'x'",
        "DELETE FROM alembic_version",
        "CREATE ROLE intruder",
    ],
)
def test_the_app_role_cannot_change_the_schema_or_its_history(app_role_url, statement):
    with pytest.raises(psycopg2.Error) as refused:
        run(app_role_url, statement)
    assert isinstance(refused.value, errors.InsufficientPrivilege), refused.value


def test_the_api_works_as_the_app_role(app_role_url, migrated):
    app = create_app(settings_for(app_role_url, migrated.broker_url))
    client = keyed_client(app)
    created = client.post("/products", json={"sku": "LP-1", "name": "Lamp", "price": "9.50"})
    assert created.status_code == 201, created.get_json()
    location = created.headers["Location"]
    assert client.patch(location, json={"stock": 4}).get_json()["stock"] == 4
    assert client.post("/jobs/slow-add", json={"a": 1, "b": 2}).status_code == 202
    assert client.delete(location).status_code == 204
    run(app_role_url, "SELECT count(*) FROM jobs")
