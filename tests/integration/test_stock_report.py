import pytest
from sqlalchemy import func, select

from tasks.extensions import db
from tasks.models import Product
from tests.integration.helpers import seed
from tests.waiting import wait_for_job

pytestmark = pytest.mark.integration


def test_the_stock_value_report_adds_up_every_product_in_stock(app, client, worker):
    seed(app, 2500, "SV-")
    with app.app_context():
        in_stock = select(Product).where(Product.stock >= 1).subquery()
        expected = db.session.execute(
            select(
                func.count(),
                func.sum(in_stock.c.stock),
                func.sum(in_stock.c.price * in_stock.c.stock),
            )
        ).one()

    response = client.post("/reports/stock-value", json={"min_stock": 1})
    assert response.status_code == 202
    report = wait_for_job(client, response.headers["Location"], {"succeeded", "failed", "dead"})

    assert report["state"] == "succeeded", report["error"]
    assert report["progress"]["done"] == report["progress"]["total"] == expected[0]
    assert report["result"] == {
        "products": expected[0],
        "units": expected[1],
        "value": str(expected[2]),
    }
