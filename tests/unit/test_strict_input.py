import sys
from decimal import Decimal

import pytest
from flask import Flask
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from web.strict_input import (
    MAX_REPORTED,
    UNSTORABLE,
    ApiRequest,
    StrictJSONProvider,
    unstorable_text,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def loads():
    return StrictJSONProvider(Flask(__name__)).loads


def test_numbers_with_a_fraction_or_exponent_are_exact_decimals_and_integers_stay_int(loads):
    # A float would be neither equal to Decimal("0.1") nor to 1e-400 (it would be 0).
    assert loads('{"price": 0.1}') == {"price": Decimal("0.1")}
    assert loads("[1e-400]") == [Decimal("1e-400")]
    assert type(loads("12")) is int


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("NaN", "NaN is not a JSON value"),
        ('{"a": [-Infinity]}', "-Infinity is not a JSON value"),
        ('[{"b": {"c": 1, "c": 1}}]', "duplicate key 'c'"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["nan", "infinity", "duplicate", "deep"],
)
def test_what_rfc_8259_does_not_allow_is_a_value_error_that_says_why(loads, text, why):
    with pytest.raises(ValueError, match=why):
        loads(text)


@pytest.mark.parametrize(
    ("value", "errors"),
    [
        ("a\x00b", {"_schema": [UNSTORABLE]}),
        ({"name": "\ud800", "na\x00me": "fine"}, {"name": [UNSTORABLE], "na\x00me": [UNSTORABLE]}),
        ({"a": {"b": [{"c": "\udfff"}]}, "d": "ok"}, {"a": {"b": {0: {"c": [UNSTORABLE]}}}}),
        ({"price": Decimal("1.5"), "ok": True, "emoji": "🙂", "list": ["Café", None]}, {}),
    ],
    ids=["whole-body", "value-and-key", "nested", "storable"],
)
def test_unstorable_text_is_reported_where_it_is(value, errors):
    assert unstorable_text(value) == errors


def reported(errors) -> int:
    if isinstance(errors, list):
        return 1
    return sum(reported(child) for child in errors.values())


@pytest.mark.parametrize(
    "body",
    [
        ["\x00"] * 1000,
        {"a": ["\x00"] * 500, **{f"\x00{n}": 1 for n in range(500)}},
    ],
    ids=["values", "keys-and-values"],
)
def test_a_body_full_of_unstorable_text_gets_no_longer_an_answer(body):
    assert reported(unstorable_text(body)) == MAX_REPORTED


def test_no_nesting_is_too_deep_to_look_through():
    depth = 2 * sys.getrecursionlimit()
    value: object = "\x00"
    for _ in range(depth):
        value = [value]
    errors = unstorable_text(value)
    for _ in range(depth):
        errors = errors[0]
    assert errors == [UNSTORABLE]


def test_a_body_that_is_not_json_is_a_400_saying_why_and_another_media_type_a_415():
    request = ApiRequest.from_values()
    with pytest.raises(BadRequest, match="not valid JSON: duplicate key 'a'"):
        request.on_json_loading_failed(ValueError("duplicate key 'a'"))
    with pytest.raises(UnsupportedMediaType, match="application/json"):
        request.on_json_loading_failed(None)
