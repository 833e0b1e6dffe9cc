from flask import Blueprint, Response, request, url_for
from psycopg2.errors import UniqueViolation
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Conflict

from tasks.extensions import db
from tasks.mailing import outbox_alerts, send_product_alert
from tasks.models import Product
from tasks.pricing import apply_price_change_task
from tasks.supplier import sync_products_task
from web.jobs import accept_job
from web.payload import json_object, paginated
from web.schemas import (
    INT4_MAX,
    AlertArgs,
    PageArgs,
    PriceChangeArgs,
    product_schema,
    products_schema,
)

bp = Blueprint("products", __name__, url_prefix="/products")

# products.id is an INTEGER: a larger id in the path matches no route (404), instead of
# reaching PostgreSQL as a number it refuses.
PRODUCT_ID = f"<int(max={INT4_MAX}):product_id>"


def _product_or_404(product_id: int) -> Product:
    return db.get_or_404(Product, product_id, description=f"no product {product_id}")


def _commit_product(product: Product) -> None:
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        if isinstance(error.orig, UniqueViolation):
            raise Conflict(f"a product with sku {product.sku!r} already exists") from None
        raise


@bp.get("")
def list_products() -> dict:
    args = PageArgs().load(request.args)
    return paginated(select(Product).order_by(Product.id), args, products_schema)


@bp.post("")
def create_product() -> tuple[dict, int, dict[str, str]]:
    product = Product(**product_schema.load(json_object()))
    db.session.add(product)
    _commit_product(product)
    location = url_for("products.get_product", product_id=product.id)
    return product_schema.dump(product), 201, {"Location": location}


@bp.get(f"/{PRODUCT_ID}")
def get_product(product_id: int) -> dict:
    return product_schema.dump(_product_or_404(product_id))


@bp.route(f"/{PRODUCT_ID}", methods=["PUT", "PATCH"])
def update_product(product_id: int) -> dict:
    product = _product_or_404(product_id)
    changes = product_schema.load(json_object(), partial=request.method == "PATCH")
    for name, value in changes.items():
        setattr(product, name, value)
    _commit_product(product)
    return product_schema.dump(product)


@bp.delete(f"/{PRODUCT_ID}")
def delete_product(product_id: int) -> Response:
    db.session.delete(_product_or_404(product_id))
    db.session.commit()
    return Response(status=204)


@bp.post("/price-changes")
def start_price_change() -> tuple[dict, int, dict[str, str]]:
    """Change the price of every product matching the filter, in the background."""
    return accept_job(apply_price_change_task, PriceChangeArgs().load(json_object()))


@bp.post(f"/{PRODUCT_ID}/alerts")
def start_alert(product_id: int) -> tuple[dict, int, dict[str, str]]:
    """Email recipients about a product; the messages are in the outbox before this answers."""
    product = _product_or_404(product_id)
    alert = AlertArgs().load(json_object())
    return accept_job(
        send_product_alert,
        {"product_id": product_id, **alert},
        with_job=lambda job_id: outbox_alerts(
            job_id, product, alert["reason"], alert["recipients"]
        ),
    )


@bp.post("/sync")
def start_sync_all() -> tuple[dict, int, dict[str, str]]:
    """Bring every product's price and stock in line with the supplier's API."""
    return accept_job(sync_products_task, {"product_ids": None})


@bp.post(f"/{PRODUCT_ID}/sync")
def start_sync_one(product_id: int) -> tuple[dict, int, dict[str, str]]:
    _product_or_404(product_id)
    return accept_job(sync_products_task, {"product_ids": [product_id]})
