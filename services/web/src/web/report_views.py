"""Reports on the catalogue, worked out in the background."""

from typing import Any

from marshmallow import Schema, fields, validate

from tasks.work.stock_report import stock_value_report
from web.job_views import Accepted, accept_job, starts_job
from web.openapi import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports", description="Catalogue reports.")


class StockValueArgs(Schema):
    min_stock = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, 2**31 - 1))


@bp.post("/stock-value")
@starts_job(bp, StockValueArgs)
def start_stock_value(args: dict[str, Any]) -> Accepted:
    """What the stock is worth at today's prices, added up in the background."""
    return accept_job(stock_value_report, args)
