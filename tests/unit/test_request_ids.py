import re

import pytest

from web.request_ids import request_id

pytestmark = pytest.mark.unit

NEW_ID = re.compile(r"[0-9a-f]{32}")


def id_of_request_with(web_app, given: str) -> str:
    with web_app.test_request_context(environ_overrides={"HTTP_X_REQUEST_ID": given}):
        first = request_id()
        assert request_id() == first, "one id for the whole request"
        return first


@pytest.mark.parametrize("given", ["9f0c7b7e-4c4a-4d4e-9a4b-0c3d2e1f0a9b", "heroku:a+/=@.-_"])
def test_a_callers_sane_request_id_is_kept(web_app, given):
    assert id_of_request_with(web_app, given) == given


@pytest.mark.parametrize(
    "given",
    ["x" * 129, "a\r\nX-Forged: 1", "ïd"],
    ids=["too-long", "line-break", "not-ascii"],
)
def test_any_other_is_replaced_by_a_new_one(web_app, given):
    assert NEW_ID.fullmatch(id_of_request_with(web_app, given))


def test_every_response_carries_the_request_id(web_app):
    response = web_app.test_client().get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    assert NEW_ID.fullmatch(web_app.test_client().get("/healthz").headers["X-Request-ID"])
