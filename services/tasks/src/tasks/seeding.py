"""Many realistic products, fast: rows are streamed to PostgreSQL with COPY."""

import random
import secrets
from collections.abc import Iterator
from decimal import Decimal

from tasks.extensions import db

ADJECTIVES = ["Steel", "Oak", "Compact", "Cordless", "Vintage", "Smart", "Ceramic", "Folding"]
NOUNS = ["Kettle", "Lamp", "Chair", "Drill", "Toaster", "Speaker", "Mug", "Backpack", "Desk"]


def product_rows(count: int, sku_prefix: str, rng: random.Random) -> Iterator[tuple]:
    for n in range(count):
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        price = Decimal(rng.randint(99, 99_999)) / 100
        yield f"{sku_prefix}{n:08d}", name, f"{name}, item {n}", price, rng.randint(0, 500)


def seed_products(count: int, sku_prefix: str | None = None, seed: int | None = None) -> str:
    """Insert `count` products in one COPY; returns the sku prefix they share."""
    prefix = sku_prefix or f"S{secrets.token_hex(3).upper()}-"
    rng = random.Random(seed)
    with db.engine.begin() as connection:
        cursor = connection.connection.driver_connection.cursor()
        copy_sql = "COPY products (sku, name, description, price, stock) FROM STDIN"
        with cursor.copy(copy_sql) as copy:
            for row in product_rows(count, prefix, rng):
                copy.write_row(row)
    return prefix
