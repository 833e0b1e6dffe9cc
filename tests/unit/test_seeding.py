import random
import re
from decimal import Decimal

import pytest

from tasks.seeding import _RowStream, product_rows

pytestmark = pytest.mark.unit

PRICE = r"\d+(?:\.\d{1,2})?"
ROW = re.compile(rf"(P-\d{{8}})\t([A-Za-z]+ [A-Za-z]+)\t\2, item (\d+)\t({PRICE})\t(\d+)\n")


def test_rows_are_in_copys_text_format_with_numbered_skus_and_valid_values():
    rows = list(product_rows(50, "P-", random.Random(7)))
    assert len(rows) == 50
    for n, row in enumerate(rows):
        match = ROW.fullmatch(row)
        assert match, row
        sku, _, item, price, stock = match.groups()
        assert (sku, int(item)) == (f"P-{n:08d}", n)
        assert Decimal("0.99") <= Decimal(price) <= Decimal("999.99")
        assert 0 <= int(stock) <= 500


def test_the_same_seed_gives_the_same_rows():
    first = list(product_rows(20, "S-", random.Random(1)))
    assert list(product_rows(20, "S-", random.Random(1))) == first
    assert list(product_rows(20, "S-", random.Random(2))) != first


def stream(count: int = 100) -> tuple[_RowStream, str]:
    rows = list(product_rows(count, "S-", random.Random(3)))
    return _RowStream(iter(rows)), "".join(rows)


@pytest.mark.parametrize("size", [7, 1 << 16])
def test_the_stream_reads_every_row_in_chunks_of_the_size_asked(size):
    rows, text = stream()
    chunks = list(iter(lambda: rows.read(size), ""))
    assert "".join(chunks) == text
    assert all(len(chunk) == size for chunk in chunks[:-1])
    assert 0 < len(chunks[-1]) <= size


def test_the_stream_reads_all_that_is_left_when_no_size_is_given():
    rows, text = stream()
    assert rows.read(10) + rows.read(-1) == text
    assert rows.read(None) == rows.read(10) == ""
