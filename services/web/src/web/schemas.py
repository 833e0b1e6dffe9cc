import re
from decimal import Decimal
from typing import Any, ClassVar

from email_validator import EmailNotValidError, validate_email
from flask_marshmallow import Marshmallow
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)
from werkzeug.routing import IntegerConverter

from tasks.models import Job, JobState, Product
from tasks.settings import current_settings

ma = Marshmallow()

# The largest value of a NUMERIC(12, 2) column (products.price).
MONEY_MAX = Decimal("9999999999.99")
# Every integer that reaches SQL is bounded by its column: INTEGER ids and stock.
INT4_MAX = 2**31 - 1
# Integers stored as JSON (job arguments and results) stay in the range every JSON
# reader agrees on (RFC 7493, I-JSON).
JSON_SAFE_INT = 2**53 - 1


class ExactDecimal(fields.Decimal):
    """A decimal with at most `places` decimal places, refused rather than rounded when it
    has more: 19.999 or 1e-400 is a 400, not 20.00 or 0.00. NaN and Infinity are refused."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "too_precise": "must have at most {places} decimal places"
    }

    def __init__(self, places: int = 2, **kwargs: Any) -> None:
        # Described as the string it is dumped as (web.openapi registers the type).
        metadata = {"pattern": rf"^-?[0-9]+(\.[0-9]{{1,{places}}})?$", **kwargs.pop("metadata", {})}
        super().__init__(places=places, as_string=True, metadata=metadata, **kwargs)
        self.decimal_places = places

    def _format_num(self, value: Any) -> Decimal:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if number.is_finite() and not _fits(number, self.decimal_places):
            raise self.make_error("too_precise", places=self.decimal_places)
        return super()._format_num(number)


def _fits(number: Decimal, places: int) -> bool:
    """Whether `number` has no non-zero digit beyond `places` decimal places (exactly)."""
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):  # NaN or Infinity: refused elsewhere
        return True
    beyond = -places - exponent
    return beyond <= 0 or not any(digits[-beyond:])


_ASCII_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)


class AsciiIntegerConverter(IntegerConverter):
    """werkzeug's `int` path converter, for ASCII digits only (its own takes Arabic-Indic ones)."""

    regex = r"[0-9]+"


class QueryInteger(fields.Integer):
    """An integer given as text (a query parameter): ASCII digits only, with an optional sign
    and blanks around. Python's int() would also take other scripts' digits."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Not a valid integer."}

    def _validated(self, value: Any) -> int:
        if isinstance(value, str) and not _ASCII_INTEGER.fullmatch(value):
            raise self.make_error("invalid")
        return super()._validated(value)


class EmailAddress(fields.String):
    """An address as email-validator reads it (the syntax of RFC 5321 and 5322, no DNS
    lookups), in its normalised form. No line breaks can get through into a header."""

    default_error_messages: ClassVar[dict[str, str]] = {"not_an_address": "{reason}"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        address = super()._deserialize(value, attr, data, **kwargs)
        try:
            return validate_email(address, check_deliverability=False).normalized
        except EmailNotValidError as error:
            raise self.make_error("not_an_address", reason=str(error)) from None


# Text that ends up in an email header (a product's name is in its alerts' Subject).
ONE_LINE = validate.Regexp(r"^[^\r\n]*$", error="must not contain line breaks")


class ProductSchema(ma.SQLAlchemyAutoSchema):
    class Meta:
        model = Product
        load_instance = False
        dump_only = ("id", "created_at", "updated_at")

    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), ONE_LINE])
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    price = ExactDecimal(required=True, validate=validate.Range(min=Decimal("0"), max=MONEY_MAX))
    # strict: a JSON number with a fraction (1.5) is refused rather than truncated.
    stock = fields.Integer(
        load_default=0, strict=True, validate=validate.Range(min=0, max=INT4_MAX)
    )


def page_of(schema: type[Schema], name: str) -> type[Schema]:
    """The schema of one page of a list of `schema` items (web.pagination.paginated)."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(schema), required=True),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "total": fields.Integer(required=True),
            "pages": fields.Integer(required=True),
        },
        name=name,
    )


ProductPageSchema = page_of(ProductSchema, "ProductPage")


class PageArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    # Query strings are text: not strict. Bounded, so the OFFSET fits a bigint.
    page = QueryInteger(load_default=1, validate=validate.Range(min=1, max=INT4_MAX))
    per_page = QueryInteger(load_default=20, validate=validate.Range(min=1, max=100))


class JobListArgs(PageArgs):
    state = fields.String(validate=validate.OneOf([state.value for state in JobState]))


def _json_int() -> fields.Integer:
    return fields.Integer(
        required=True, strict=True, validate=validate.Range(min=-JSON_SAFE_INT, max=JSON_SAFE_INT)
    )


class SlowAddArgs(Schema):
    a = _json_int()
    b = _json_int()


class PriceChangeArgs(Schema):
    """Exactly one of percent or amount; the filter fields narrow the products changed."""

    percent = ExactDecimal(validate=validate.Range(min=Decimal("-99.99"), max=1000))
    amount = ExactDecimal(validate=validate.Range(min=Decimal("-100000"), max=Decimal("100000")))
    sku_prefix = fields.String(validate=validate.Length(min=1, max=64))
    min_price = ExactDecimal(validate=validate.Range(min=0, max=MONEY_MAX))
    max_price = ExactDecimal(validate=validate.Range(min=0, max=MONEY_MAX))

    @validates_schema
    def _one_change(self, data: dict[str, Any], **_: Any) -> None:
        if ("percent" in data) == ("amount" in data):
            raise ValidationError("give exactly one of percent and amount", "_schema")
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and Decimal(low) > Decimal(high):
            raise ValidationError("must not exceed max_price", "min_price")

    @post_load
    def _as_json(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # Job arguments are JSON (in Postgres and in the task message): decimals as strings.
        return {name: str(value) for name, value in data.items()}


class AlertArgs(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(["price_drop", "back_in_stock"]))
    recipients = fields.List(
        EmailAddress(validate=validate.Length(max=320)),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "At most ALERT_MAX_RECIPIENTS addresses (100 by default)"},
    )

    @validates("recipients")
    def _not_too_many(self, recipients: list[str], **_: Any) -> None:
        most = current_settings().alert_max_recipients
        if len(recipients) > most:
            raise ValidationError(f"at most {most} recipients per alert")

    @post_load
    def _unique_recipients(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["recipients"] = list(dict.fromkeys(data["recipients"]))
        return data


PROGRESS = {
    "type": ["object", "null"],
    "description": "For work that reports it: rows or products done of those in scope",
    "properties": {
        "done": {"type": "integer"},
        "total": {"type": "integer"},
        "percent": {"type": "number"},
    },
}


class JobSchema(ma.Schema):
    id = fields.UUID(required=True)
    kind = fields.String(required=True)
    arguments = fields.Dict(required=True)
    state = fields.String(required=True, validate=validate.OneOf(list(JobState)))
    attempts = fields.Integer(required=True)
    progress = fields.Method("_progress", metadata=PROGRESS)
    result = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    request_id = fields.String(
        allow_none=True, metadata={"description": "X-Request-ID of the request that started it"}
    )
    retry_request_id = fields.String(
        allow_none=True, metadata={"description": "X-Request-ID of the last request to retry it"}
    )
    created_at = fields.DateTime(required=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)

    def _progress(self, job: Job) -> dict[str, Any] | None:
        if job.progress_total is None:
            return None
        done, total = job.progress_done or 0, job.progress_total
        percent = 100.0 if total == 0 else round(100.0 * done / total, 1)
        return {"done": done, "total": total, "percent": percent}


JobPageSchema = page_of(JobSchema, "JobPage")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"example": "ok"})


class ReadinessSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "unavailable"]))
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        required=True,
        metadata={"description": "postgres and redis: `ok`, or what went wrong"},
    )
