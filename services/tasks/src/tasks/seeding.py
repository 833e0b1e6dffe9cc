"""Many realistic products, fast: rows are streamed to PostgreSQL with COPY."""

import io
import random
import secrets
from collections.abc import Iterator
from decimal import Decimal

from tasks import database
from tasks.extensions import db

ADJECTIVES = ["Steel", "Oak", "Compact", "Cordless", "Vintage", "Smart", "Ceramic", "Folding"]
NOUNS = ["Kettle", "Lamp", "Chair", "Drill", "Toaster", "Speaker", "Mug", "Backpack", "Desk"]
COPY_SQL = "COPY products (sku, name, description, price, stock) FROM STDIN"


def product_rows(count: int, sku_prefix: str, rng: random.Random) -> Iterator[str]:
    """Rows in COPY's text format (the generated values hold no tabs or backslashes)."""
    for n in range(count):
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        price = Decimal(rng.randint(99, 99_999)) / 100
        yield f"{sku_prefix}{n:08d}\t{name}\t{name}, item {n}\t{price}\t{rng.randint(0, 500)}\n"


class _RowStream(io.TextIOBase):
    """The rows as a file that COPY reads in chunks, so a million rows never sit in memory."""

    def __init__(self, rows: Iterator[str]) -> None:
        self._rows = rows
        self._buffer = ""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        while size is None or size < 0 or len(self._buffer) < size:
            row = next(self._rows, None)
            if row is None:
                break
            self._buffer += row
        if size is None or size < 0:
            size = len(self._buffer)
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk


def seed_products(count: int, sku_prefix: str | None = None, seed: int | None = None) -> str:
    """Insert `count` products in one COPY; returns the sku prefix they share."""
    prefix = sku_prefix or f"S{secrets.token_hex(3).upper()}-"
    rows = _RowStream(product_rows(count, prefix, random.Random(seed)))
    with database.blocking_waits(), db.engine.begin() as connection:
        cursor = connection.connection.driver_connection.cursor()
        # A large seed may take longer than the statement timeout meant for requests.
        cursor.execute("SET LOCAL statement_timeout = 0")
        cursor.copy_expert(COPY_SQL, rows, size=1 << 16)
    return prefix
