import pytest
from flask import Flask, request
from marshmallow import Schema, ValidationError, fields

from tasks.api_keys import JOBS, READ
from web.openapi import BEARER, ErrorsPlugin, StrictParser
from web.schemas import PageArgs

pytestmark = pytest.mark.unit


def documented(public_reads: bool, **operations: dict) -> dict:
    ErrorsPlugin(public_reads).operation_helper(path="/x", operations=operations)
    return operations


def errors_of(operation: dict) -> list[str]:
    return sorted(str(status) for status in operation["responses"] if int(status) >= 400)


def test_every_operation_lists_400_and_503_and_keeps_what_it_documents():
    (operation,) = documented(True, get={"responses": {"200": "OK", "400": "its own"}}).values()
    assert errors_of(operation) == ["400", "503"]
    assert operation["responses"]["400"] == "its own"
    assert "security" not in operation


@pytest.mark.parametrize(
    ("public_reads", "scope", "security", "errors"),
    [
        (True, JOBS, [{BEARER: [JOBS]}], ["400", "401", "403", "503"]),
        (True, READ, [{}, {BEARER: [READ]}], ["400", "503"]),
        (False, READ, [{BEARER: [READ]}], ["400", "401", "403", "503"]),
    ],
    ids=["write", "public-read", "keyed-read"],
)
def test_an_operation_that_needs_a_key_lists_401_and_403_and_public_reads_need_none(
    public_reads, scope, security, errors
):
    (operation,) = documented(public_reads, get={"security": [{BEARER: [scope]}]}).values()
    assert operation["security"] == security
    assert errors_of(operation) == errors


class Filters(Schema):
    tag = fields.List(fields.String())
    per_page = fields.Integer(data_key="per-page")


@pytest.mark.parametrize(
    ("query", "schema", "repeated"),
    [
        ("page=1&page=2&per_page=5", PageArgs(), ["page"]),
        ("per-page=1&per-page=2&tag=a", Filters(), ["per-page"]),
        ("tag=a&tag=b&other=1&other=2", Filters(), []),
    ],
    ids=["single", "data-key", "list-and-unknown"],
)
def test_a_single_valued_query_parameter_given_twice_is_refused(query, schema, repeated):
    with Flask(__name__).test_request_context(f"/?{query}"):
        if repeated:
            with pytest.raises(ValidationError) as refused:
                StrictParser().load_querystring(request, schema)
            assert refused.value.messages == {key: ["must be given once"] for key in repeated}
        else:
            assert StrictParser().load_querystring(request, schema).getlist("tag") == ["a", "b"]


def test_query_errors_are_reported_field_by_field_without_webargs_location():
    with (
        Flask(__name__).test_request_context("/?page=x"),
        pytest.raises(ValidationError) as refused,
    ):
        StrictParser().parse(PageArgs(), request, location="query")
    assert refused.value.messages == {"page": ["Not a valid integer."]}
