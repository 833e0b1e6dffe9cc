"""Work over the whole catalogue, resumable. The first delivery fixes its scope (the products
that exist then, up to the largest id); the checkpoint says the last product id done, so a
later delivery carries on after it and products added meanwhile are left alone."""

from typing import TypedDict

from sqlalchemy import ColumnElement, func, select

from tasks.extensions import db
from tasks.models import Product


class Position(TypedDict):
    after: int
    end: int


def fix_scope(in_scope: ColumnElement[bool] | None) -> tuple[Position, int]:
    """The start of work over the products `in_scope` (all when None), and how many they are."""
    end = db.session.scalar(select(func.coalesce(func.max(Product.id), 0)))
    counted = select(func.count()).select_from(Product).where(Product.id <= end)
    if in_scope is not None:
        counted = counted.where(in_scope)
    return {"after": 0, "end": end}, db.session.scalar(counted)


def next_range(position: Position, size: int) -> tuple[int, int] | None:
    """The ids (first excluded, last included) of the next chunk of `size`; None when done."""
    if position["after"] >= position["end"]:
        return None
    return position["after"], min(position["after"] + size, position["end"])
