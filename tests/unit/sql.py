"""SQL expressions as PostgreSQL is sent them, values inlined, for tests to read."""

from sqlalchemy import ClauseElement
from sqlalchemy.dialects import postgresql

# The named paramstyle leaves % as it is (psycopg2's doubles it).
_DIALECT = postgresql.dialect(paramstyle="named")


def as_sql(expression: ClauseElement) -> str:
    return str(expression.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))
