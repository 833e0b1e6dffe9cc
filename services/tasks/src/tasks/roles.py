"""Least privilege in PostgreSQL: the migrations run as the owner of the schema; web and
workers run as a role that can read and write rows, and nothing more (no DDL, no
TRUNCATE, no change of the migration history). The release step makes it and keeps its
grants up to date (`flask roles grant-app`)."""

from psycopg2 import sql

from tasks.extensions import db

ROW_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def grant_app_role(role: str, password: str) -> None:
    """Create `role` (or give it `password` again) with the rights to every row of the
    schema's tables, those of later migrations included (default privileges)."""
    with db.engine.begin() as connection:
        cursor = connection.connection.driver_connection.cursor()
        name = sql.Identifier(role)
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        cursor.execute(
            sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(password))
        )
        cursor.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(connection.connection.driver_connection.info.dbname), name
            )
        )
        for statement in (
            "GRANT USAGE ON SCHEMA public TO {}",
            f"GRANT {ROW_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO {{}}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {ROW_PRIVILEGES} ON TABLES TO {{}}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}",
            # The migration history is the owner's alone.
            "REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {}",
        ):
            cursor.execute(sql.SQL(statement).format(name))
