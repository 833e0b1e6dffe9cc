"""Price changes over many rows: set-based SQL in short chunks, resumable, never twice."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, true, update

from tasks.errors import DEPENDENCY_ERRORS
from tasks.extensions import db
from tasks.job_lifecycle import JobContext, job_task
from tasks.models import Product
from tasks.settings import current_settings
from tasks.work.catalogue import Position, fix_scope, next_range


class Progress(Position):
    updated: int


@dataclass(frozen=True)
class PriceChange:
    percent: Decimal | None = None
    amount: Decimal | None = None
    sku_prefix: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None

    @classmethod
    def from_arguments(cls, arguments: dict[str, Any]) -> "PriceChange":
        return cls(
            **{
                k: (v if k == "sku_prefix" or v is None else Decimal(v))
                for k, v in arguments.items()
            }
        )

    def matches(self) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = [true()]
        if self.sku_prefix:
            conditions.append(Product.sku.like(like_prefix(self.sku_prefix), escape="\\"))
        if self.min_price is not None:
            conditions.append(Product.price >= self.min_price)
        if self.max_price is not None:
            conditions.append(Product.price <= self.max_price)
        return and_(*conditions)

    def new_price(self) -> ColumnElement[Decimal]:
        if self.percent is not None:
            changed = func.round(Product.price * (1 + self.percent / 100), 2)
        else:
            changed = Product.price + (self.amount or 0)
        return func.greatest(changed, 0)


def like_prefix(prefix: str) -> str:
    """A LIKE pattern for values starting with `prefix`, its wildcards taken literally."""
    return prefix.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"


def apply_price_change(job: JobContext, change: PriceChange, chunk_size: int) -> dict[str, int]:
    """Change the prices a chunk of ids at a time, each chunk committed with the checkpoint
    (the last id done, and the rows changed so far): a redelivered or retried job resumes
    after the last chunk committed and never changes a row twice."""
    if job.checkpoint is None:
        scope, total = fix_scope(change.matches())
        job.commit(checkpoint={**scope, "updated": 0}, done=0, total=total)
    position: Progress = job.checkpoint
    while (ids := next_range(position, chunk_size)) is not None:
        start, stop = ids
        # No session sync: the ORM would otherwise have each changed id returned (RETURNING)
        # to refresh objects this task never loads, a third of a chunk's time.
        changed = db.session.execute(
            update(Product)
            .where(Product.id > start, Product.id <= stop, change.matches())
            .values(price=change.new_price(), updated_at=func.now()),
            execution_options={"synchronize_session": False},
        ).rowcount
        position = {**position, "after": stop, "updated": position["updated"] + changed}
        job.commit(checkpoint=position, done=position["updated"])
    return {"updated": position["updated"]}


@job_task(name="tasks.apply_price_change", autoretry_for=DEPENDENCY_ERRORS)
def apply_price_change_task(job: JobContext, **arguments: Any) -> dict[str, int]:
    """Change the price of every product matching the filter, in the background."""
    change = PriceChange.from_arguments(arguments)
    return apply_price_change(job, change, current_settings().bulk_chunk_size)
