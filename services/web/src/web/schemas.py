from decimal import Decimal
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from tasks.models import Job, JobState, Product
from web.extensions import ma


class ProductSchema(ma.SQLAlchemyAutoSchema):
    class Meta:
        model = Product
        load_instance = False
        dump_only = ("id", "created_at", "updated_at")

    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    price = fields.Decimal(
        required=True,
        places=2,
        as_string=True,
        validate=validate.Range(min=Decimal("0"), max=Decimal("9999999999.99")),
    )
    stock = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1))


product_schema = ProductSchema()
products_schema = ProductSchema(many=True)


class PageArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class JobListArgs(PageArgs):
    state = fields.String(validate=validate.OneOf([state.value for state in JobState]))


class SlowAddArgs(Schema):
    a = fields.Integer(required=True, strict=True)
    b = fields.Integer(required=True, strict=True)


def _money(**kwargs: Any) -> fields.Decimal:
    return fields.Decimal(places=2, as_string=True, **kwargs)


class PriceChangeArgs(Schema):
    """Exactly one of percent or amount; the filter fields narrow the products changed."""

    percent = fields.Decimal(
        places=2, as_string=True, validate=validate.Range(min=Decimal("-99.99"), max=1000)
    )
    amount = _money(validate=validate.Range(min=Decimal("-100000"), max=Decimal("100000")))
    sku_prefix = fields.String(validate=validate.Length(min=1, max=64))
    min_price = _money(validate=validate.Range(min=0))
    max_price = _money(validate=validate.Range(min=0))

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
        fields.Email(validate=validate.Length(max=320)),
        required=True,
        validate=validate.Length(min=1, max=1000),
    )

    @post_load
    def _unique_recipients(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["recipients"] = list(dict.fromkeys(data["recipients"]))
        return data


class JobSchema(ma.Schema):
    id = fields.UUID()
    kind = fields.String()
    arguments = fields.Dict()
    state = fields.String()
    attempts = fields.Integer()
    progress = fields.Method("_progress")
    result = fields.Raw()
    error = fields.String()
    created_at = fields.DateTime()
    started_at = fields.DateTime()
    finished_at = fields.DateTime()

    def _progress(self, job: Job) -> dict[str, Any] | None:
        if job.progress_total is None:
            return None
        done, total = job.progress_done or 0, job.progress_total
        percent = 100.0 if total == 0 else round(100.0 * done / total, 1)
        return {"done": done, "total": total, "percent": percent}


job_schema = JobSchema()
jobs_schema = JobSchema(many=True)
