from typing import Any

from flask import Response, url_for
from psycopg2.errors import UniqueViolation
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tasks.api_keys import READ, WRITE
from tasks.errors import Conflict, NotFound
from tasks.extensions import db
from tasks.models import Product
from tasks.work.email_alerts import outbox_alerts, send_product_alert
from tasks.work.price_changes import apply_price_change_task
from tasks.work.supplier_sync import sync_products_task
from web.job_views import Accepted, accept_job, starts_job
from web.openapi import Blueprint
from web.pagination import paginated
from web.schemas import (
    INT4_MAX,
    AlertArgs,
    PageArgs,
    PriceChangeArgs,
    ProductPageSchema,
    ProductSchema,
)

bp = Blueprint("products", __name__, url_prefix="/products", description="The catalogue.")

PRODUCT_ID = "<int:product_id>"
# What a request body can be answered besides 400: too large, not JSON.
BODY_ERRORS = (413, 415)


def _product_or_404(product_id: int) -> Product:
    # products.id is an INTEGER: a larger id is no product, rather than a number PostgreSQL
    # refuses. (In the route, int(max=...) would make werkzeug answer 405 to PUT and DELETE.)
    product = db.session.get(Product, product_id) if product_id <= INT4_MAX else None
    if product is None:
        raise NotFound(f"no product {product_id}")
    return product


def _commit_product(product: Product) -> None:
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        if isinstance(error.orig, UniqueViolation):
            raise Conflict(f"a product with sku {product.sku!r} already exists") from None
        raise


def _update(product_id: int, changes: dict[str, Any]) -> Product:
    product = _product_or_404(product_id)
    for name, value in changes.items():
        setattr(product, name, value)
    _commit_product(product)
    return product


@bp.get("")
@bp.requires(READ)
@bp.arguments(PageArgs, location="query")
@bp.response(200, ProductPageSchema)
def list_products(args: dict[str, Any]) -> dict[str, Any]:
    """Products, a page at a time, in id order."""
    return paginated(select(Product).order_by(Product.id), args)


@bp.post("")
@bp.requires(WRITE)
@bp.errors(409, *BODY_ERRORS)
@bp.arguments(ProductSchema)
@bp.response(201, ProductSchema, headers={"Location": {"schema": {"type": "string"}}})
def create_product(fields: dict[str, Any]) -> tuple[Product, dict[str, str]]:
    """Add a product; its sku must be new."""
    product = Product(**fields)
    db.session.add(product)
    _commit_product(product)
    return product, {"Location": url_for("products.get_product", product_id=product.id)}


@bp.get(f"/{PRODUCT_ID}")
@bp.requires(READ)
@bp.errors(404)
@bp.response(200, ProductSchema)
def get_product(product_id: int) -> Product:
    return _product_or_404(product_id)


@bp.put(f"/{PRODUCT_ID}")
@bp.requires(WRITE)
@bp.errors(404, 409, *BODY_ERRORS)
@bp.arguments(ProductSchema)
@bp.response(200, ProductSchema)
def replace_product(fields: dict[str, Any], product_id: int) -> Product:
    """Replace every field of a product."""
    return _update(product_id, fields)


@bp.patch(f"/{PRODUCT_ID}")
@bp.requires(WRITE)
@bp.errors(404, 409, *BODY_ERRORS)
@bp.arguments(ProductSchema(partial=True))
@bp.response(200, ProductSchema)
def update_product(changes: dict[str, Any], product_id: int) -> Product:
    """Change the fields given, and only those."""
    return _update(product_id, changes)


@bp.delete(f"/{PRODUCT_ID}")
@bp.requires(WRITE)
@bp.errors(404)
@bp.response(204)
def delete_product(product_id: int) -> Response:
    db.session.delete(_product_or_404(product_id))
    db.session.commit()
    return Response(status=204)


@bp.post("/price-changes")
@starts_job(bp, PriceChangeArgs)
def start_price_change(change: dict[str, Any]) -> Accepted:
    """Change the price of every product matching the filter, in the background."""
    return accept_job(apply_price_change_task, change)


@bp.post(f"/{PRODUCT_ID}/alerts")
@starts_job(bp, AlertArgs)
@bp.errors(404)
def start_alert(alert: dict[str, Any], product_id: int) -> Accepted:
    """Email recipients about a product; the messages are in the outbox before this answers."""
    product = _product_or_404(product_id)
    if "\r" in product.name or "\n" in product.name:
        # Stored before names were checked: it cannot be an email's Subject.
        raise Conflict(f"product {product_id}'s name has a line break; change the name first")
    return accept_job(
        send_product_alert,
        {"product_id": product_id, **alert},
        with_job=lambda job_id: outbox_alerts(
            job_id, product, alert["reason"], alert["recipients"]
        ),
    )


@bp.post("/sync")
@starts_job(bp)
def start_sync_all() -> Accepted:
    """Bring every product's price and stock in line with the supplier's API."""
    return accept_job(sync_products_task, {"product_ids": None})


@bp.post(f"/{PRODUCT_ID}/sync")
@starts_job(bp)
@bp.errors(404)
def start_sync_one(product_id: int) -> Accepted:
    """Bring one product in line with the supplier's API."""
    _product_or_404(product_id)
    return accept_job(sync_products_task, {"product_ids": [product_id]})
