import re
from decimal import Decimal

import pytest

from tasks.work.price_changes import PriceChange, like_prefix
from tests.unit.sql import as_sql

pytestmark = pytest.mark.unit


def test_arguments_as_stored_become_exact_decimals_and_the_prefix_stays_text():
    change = PriceChange.from_arguments(
        {"percent": "-12.50", "sku_prefix": "10", "min_price": "0.10", "max_price": None}
    )
    assert change == PriceChange(
        percent=Decimal("-12.50"), sku_prefix="10", min_price=Decimal("0.10"), max_price=None
    )
    assert isinstance(change.percent, Decimal) and isinstance(change.sku_prefix, str)


@pytest.mark.parametrize(("prefix", "pattern"), [("AB-", "AB-%"), ("\\_%", r"\\\_\%%")])
def test_a_like_prefix_takes_wildcards_and_backslashes_literally(prefix, pattern):
    assert like_prefix(prefix) == pattern


def test_each_filter_narrows_the_products_and_a_zero_bound_is_a_bound():
    assert as_sql(PriceChange(percent=Decimal(5)).matches()) == "true"
    change = PriceChange(
        amount=Decimal(1), sku_prefix="A_", min_price=Decimal(0), max_price=Decimal("9.99")
    )
    assert as_sql(change.matches()).split(" AND ") == [
        r"products.sku LIKE 'A\_%' ESCAPE '\'",
        "products.price >= 0",
        "products.price <= 9.99",
    ]


@pytest.mark.parametrize(("percent", "factor"), [("33.33", "1.3333"), ("-99.99", "0.0001")])
def test_a_percent_change_multiplies_exactly_rounds_to_cents_and_stays_at_or_above_zero(
    percent, factor
):
    sql = as_sql(PriceChange(percent=Decimal(percent)).new_price())
    found = re.fullmatch(r"greatest\(round\(products\.price \* ([0-9.]+), 2\), 0\)", sql)
    assert found, sql
    assert Decimal(found.group(1)) == Decimal(factor)


def test_an_amount_is_added_and_stays_at_or_above_zero():
    assert as_sql(PriceChange(amount=Decimal("-2.50")).new_price()) == (
        "greatest(products.price + -2.50, 0)"
    )
