import json

import pytest

from web.gunicorn_worker import json_error_response

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("status", "reason", "code"),
    [
        (431, "Request Header Fields Too Large", "request_header_fields_too_large"),
        (400, "", "error"),
    ],
)
def test_gunicorns_own_refusals_are_complete_responses_in_the_apis_error_shape(
    status, reason, code
):
    message = "Request Line is too large (8192 > 4094) — «trop»"
    response = json_error_response(status, reason, message)
    head, body = response.split(b"\r\n\r\n", 1)
    status_line, *headers = head.decode("latin-1").split("\r\n")
    assert status_line == f"HTTP/1.1 {status} {reason}"
    assert dict(h.split(": ", 1) for h in headers) == {
        "Connection": "close",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    assert json.loads(body) == {"error": {"status": status, "code": code, "message": message}}
