import pytest

pytestmark = pytest.mark.integration

KETTLE = {"sku": "KT-1", "name": "Kettle", "price": "19.99", "stock": 3}


def create(client, **fields):
    response = client.post("/products", json={**KETTLE, **fields})
    assert response.status_code == 201, response.get_json()
    return response


def count(client) -> int:
    return client.get("/products").get_json()["total"]


def test_create_returns_the_product_and_where_it_lives(client):
    response = create(client)
    body = response.get_json()
    assert response.headers["Location"] == f"/products/{body['id']}"
    assert body | KETTLE == body
    assert client.get(response.headers["Location"]).get_json() == body


def test_list_is_paginated_in_id_order(client):
    for n in range(7):
        create(client, sku=f"SKU-{n}", name=f"Product {n}")
    page = client.get("/products?page=2&per_page=3").get_json()
    assert [p["sku"] for p in page["items"]] == ["SKU-3", "SKU-4", "SKU-5"]
    assert (page["page"], page["per_page"], page["total"], page["pages"]) == (2, 3, 7, 3)
    assert client.get("/products?page=9&per_page=3").get_json()["items"] == []


@pytest.mark.parametrize("query", ["page=0", "per_page=0", "per_page=101", "page=abc"])
def test_bad_pagination_is_a_400(client, query):
    response = client.get(f"/products?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"


def test_patch_changes_only_the_given_fields(client):
    product_id = create(client).get_json()["id"]
    response = client.patch(f"/products/{product_id}", json={"price": "17.5"})
    assert response.status_code == 200
    assert response.get_json() | {"price": "17.50", "name": "Kettle", "stock": 3} == (
        response.get_json()
    )


def test_put_needs_every_required_field(client):
    product_id = create(client).get_json()["id"]
    response = client.put(f"/products/{product_id}", json={"price": "1.00"})
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"sku", "name"}
    assert client.get(f"/products/{product_id}").get_json()["price"] == "19.99"


def test_delete_then_404(client):
    product_id = create(client).get_json()["id"]
    assert client.delete(f"/products/{product_id}").status_code == 204
    for method in ("get", "delete", "patch"):
        response = getattr(client, method)(f"/products/{product_id}", json={})
        assert response.status_code == 404
        assert response.get_json()["error"]["status"] == 404


def test_duplicate_sku_is_a_409_and_changes_nothing(client):
    create(client)
    response = client.post("/products", json={**KETTLE, "name": "Other"})
    assert response.status_code == 409
    assert "KT-1" in response.get_json()["error"]["message"]
    assert count(client) == 1
    other = create(client, sku="KT-2").get_json()["id"]
    assert client.patch(f"/products/{other}", json={"sku": "KT-1"}).status_code == 409
    assert client.get(f"/products/{other}").get_json()["sku"] == "KT-2"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**KETTLE, "price": "-1"}, "price"),
        ({**KETTLE, "price": "abc"}, "price"),
        ({**KETTLE, "stock": -2}, "stock"),
        ({**KETTLE, "sku": ""}, "sku"),
        ({**KETTLE, "name": "x" * 201}, "name"),
        ({**KETTLE, "id": 99}, "id"),
        ({**KETTLE, "colour": "red"}, "colour"),
        ({"name": "No sku"}, "sku"),
    ],
)
def test_invalid_products_are_a_400_naming_the_field_and_change_nothing(client, payload, field):
    response = client.post("/products", json=payload)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["fields"]
    assert count(client) == 0


def test_a_body_that_is_not_json_is_a_415(client):
    response = client.post("/products", data="sku=KT-1", content_type="text/plain")
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", "null", '"text"'])
def test_a_body_that_is_not_a_json_object_is_a_400(client, body):
    response = client.post("/products", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
    assert count(client) == 0


def test_a_body_over_the_limit_is_a_413(client, app):
    oversized = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(
        "/products", data=f'{{"name": "{oversized}"}}', content_type="application/json"
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"
    assert count(client) == 0


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/nowhere").get_json()["error"]["status"] == 404
    response = client.put("/products")
    assert response.status_code == 405
    assert {"GET", "POST"} <= set(response.headers["Allow"].split(", "))
