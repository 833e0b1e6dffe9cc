"""What the stock is worth, added up a chunk of products at a time, in the background."""

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from tasks import JobContext, job_task
from tasks.errors import DEPENDENCY_ERRORS
from tasks.extensions import db
from tasks.models import Product
from tasks.work.catalogue import fix_scope, next_range

CHUNK = 1000


@job_task(name="tasks.stock_value_report", autoretry_for=DEPENDENCY_ERRORS)
def stock_value_report(job: JobContext, min_stock: int = 0) -> dict[str, Any]:
    """The products with at least `min_stock` units, their units, and what those are worth."""
    in_scope = Product.stock >= min_stock
    if job.checkpoint is None:  # the first delivery: the products there are now
        scope, total = fix_scope(in_scope)
        job.commit(checkpoint={**scope, "products": 0, "units": 0, "value": "0"}, total=total)
    sums = job.checkpoint
    while (ids := next_range(sums, CHUNK)) is not None:
        first, last = ids
        products, units, value = db.session.execute(
            select(
                func.count(), func.sum(Product.stock), func.sum(Product.price * Product.stock)
            ).where(Product.id > first, Product.id <= last, in_scope)
        ).one()
        sums = {
            **sums,
            "after": last,
            "products": sums["products"] + products,
            "units": sums["units"] + (units or 0),
            "value": str(Decimal(sums["value"]) + (value or 0)),
        }
        # Commits the checkpoint and progress, or stops here if the job was cancelled.
        job.commit(checkpoint=sums, done=sums["products"])
    return {key: sums[key] for key in ("products", "units", "value")}
