"""/docs in a real browser that can reach nothing but loopback (headless Chromium) against
the web process as deployed: Swagger UI lists every operation of /openapi.json, with no
file from anywhere but the API itself."""

import shutil
from collections.abc import Iterator
from contextlib import suppress

import pytest
import requests

from local_servers import wait_until
from tests.browser import CHROMIUM, Page, offline_chromium
from tests.web_server import WebServer, web_server

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"no {CHROMIUM} binary on PATH: `apt-get install chromium` (.ci/run does)",
    ),
]

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Generous: a loaded machine parses Swagger UI's 1.6 MB bundle slowly. Proves "rendered".
RENDER_TIMEOUT = 60

# (METHOD, path) of each operation Swagger UI shows.
SHOWN_OPERATIONS = """
Array.from(document.querySelectorAll(".opblock")).map(operation => [
  operation.querySelector(".opblock-summary-method")?.textContent,
  operation.querySelector("[data-path]")?.dataset.path,
])
"""


@pytest.fixture
def web(servers, tmp_path) -> Iterator[WebServer]:
    with web_server(servers.database_url, servers.redis_url, tmp_path) as server:
        yield server


def operations(spec: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def test_docs_lists_every_operation_without_reaching_beyond_loopback(web, tmp_path):
    described = operations(requests.get(f"{web.url}/openapi.json", timeout=10).json())
    assert described

    with offline_chromium(tmp_path) as browser:
        page = Page(browser)
        page.navigate(f"{web.url}/docs")
        shown: set[tuple[str, str]] = set()

        def rendered_or_failed() -> bool:
            nonlocal shown
            shown = {tuple(operation) for operation in page.evaluate(SHOWN_OPERATIONS)}
            # A request that failed (a file the page could not load) will not come back.
            return described <= shown or bool(page.failed_requests())

        # Past the deadline the assertions below say what is missing.
        with suppress(TimeoutError):
            wait_until(rendered_or_failed, RENDER_TIMEOUT, "Swagger UI to list the operations")

        assert page.failed_requests() == []
        assert sorted(described - shown) == [], "operations /docs does not list"
        assert page.outside_loopback() == []
