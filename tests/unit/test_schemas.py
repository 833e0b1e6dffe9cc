from decimal import Decimal
from types import SimpleNamespace

import pytest
from flask import Flask
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule

from tests.unit.conftest import unit_settings
from web.schemas import (
    AlertArgs,
    AsciiIntegerConverter,
    EmailAddress,
    ExactDecimal,
    JobSchema,
    PriceChangeArgs,
    QueryInteger,
    _fits,
)

pytestmark = pytest.mark.unit

ANOTHER_SCRIPTS_DIGITS = ["\u0661", "1\uff12"]


def field_schema(field) -> Schema:
    return Schema.from_dict({"value": field})()


def loaded(field, value):
    return field_schema(field).load({"value": value})["value"]


def refusal(field, value) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        field_schema(field).load({"value": value})
    return refused.value.messages["value"]


@pytest.mark.parametrize(
    ("given", "kept"),
    [("19.990", "19.99"), ("1E+2", "100.00")],
)
def test_money_with_no_more_than_two_places_is_kept_exactly(given, kept):
    value = loaded(ExactDecimal(), given)
    assert value == Decimal(kept) and str(value) == kept


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("19.999", "must have at most 2 decimal places"),
        ("1e-400", "must have at most 2 decimal places"),
        ("NaN", "Special numeric values"),
    ],
)
def test_money_that_would_be_rounded_or_is_no_number_is_refused(given, message):
    assert message in refusal(ExactDecimal(), given)[0]


@pytest.mark.parametrize(
    ("number", "places", "fits"),
    [
        ("1.2300000", 2, True),
        ("1.231", 2, False),
        ("0.5", 0, False),
    ],
)
def test_a_number_fits_its_places_when_no_digit_beyond_them_is_nonzero(number, places, fits):
    assert _fits(Decimal(number), places) is fits


def test_a_query_integer_is_ascii_digits_with_a_sign_and_blanks():
    assert [loaded(QueryInteger(), text) for text in ("12", " +3 ", "-07")] == [12, 3, -7]


@pytest.mark.parametrize("text", [*ANOTHER_SCRIPTS_DIGITS, "\u00a012"])
def test_any_other_query_integer_is_refused(text):
    assert refusal(QueryInteger(), text) == ["Not a valid integer."]


def test_ids_in_paths_are_ascii_digits_only():
    urls = Map(
        [Rule("/products/<int:product_id>", endpoint="product")],
        converters={"int": AsciiIntegerConverter},
    ).bind("api.example")
    assert urls.match("/products/12") == ("product", {"product_id": 12})
    for digits in ANOTHER_SCRIPTS_DIGITS:
        with pytest.raises(NotFound):
            urls.match(f"/products/{digits}")


def test_an_email_address_is_kept_normalised_and_anything_else_refused_saying_why():
    assert loaded(EmailAddress(), "Ann@Example.COM") == "Ann@example.com"
    assert loaded(EmailAddress(), "zoë@exämple.com") == "zoë@exämple.com"
    assert refusal(EmailAddress(), "nobody") == ["An email address must have an @-sign."]
    (message,) = refusal(EmailAddress(), "a@example.com\r\nBcc: b@example.com")
    assert "invalid characters" in message


@pytest.mark.parametrize(
    ("given", "errors"),
    [
        ({}, {"_schema": ["give exactly one of percent and amount"]}),
        ({"percent": 5, "amount": 1}, {"_schema": ["give exactly one of percent and amount"]}),
        (
            {"amount": 1, "min_price": 10, "max_price": 9},
            {"min_price": ["must not exceed max_price"]},
        ),
    ],
    ids=["neither", "both", "min-over-max"],
)
def test_a_price_change_is_exactly_one_change_within_sensible_bounds(given, errors):
    with pytest.raises(ValidationError) as refused:
        PriceChangeArgs().load(given)
    assert refused.value.messages == errors


def test_a_price_changes_arguments_are_stored_as_json_strings():
    given = {"percent": Decimal("12.5"), "sku_prefix": "AB", "min_price": 0, "max_price": 0}
    assert PriceChangeArgs().load(given) == {
        "percent": "12.50",
        "sku_prefix": "AB",
        "min_price": "0.00",
        "max_price": "0.00",
    }


@pytest.fixture
def three_recipients_at_most():
    app = Flask(__name__)
    app.extensions["settings"] = unit_settings(ALERT_MAX_RECIPIENTS="3")
    with app.app_context():
        yield


@pytest.mark.usefixtures("three_recipients_at_most")
def test_an_alert_has_at_most_the_configured_recipients_each_once():
    loaded = AlertArgs().load(
        {"reason": "price_drop", "recipients": ["b@example.com", "a@example.com", "b@Example.com"]}
    )
    assert loaded["recipients"] == ["b@example.com", "a@example.com"], "duplicates as given"
    with pytest.raises(ValidationError) as refused:
        AlertArgs().load(
            {"reason": "back_in_stock", "recipients": [f"{n}@example.com" for n in range(4)]}
        )
    assert refused.value.messages == {"recipients": ["at most 3 recipients per alert"]}


@pytest.mark.parametrize(
    ("done", "total", "progress"),
    [
        (1, 3, {"done": 1, "total": 3, "percent": 33.3}),
        (0, 0, {"done": 0, "total": 0, "percent": 100.0}),
        (5, None, None),
    ],
    ids=["some", "nothing-to-do", "not-reported"],
)
def test_a_jobs_progress_is_shown_as_a_percentage_of_its_total(done, total, progress):
    job = SimpleNamespace(progress_done=done, progress_total=total)
    assert JobSchema()._progress(job) == progress
