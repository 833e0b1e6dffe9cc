"""The README's examples are the code: each file it shows is shown whole and as it is, and
each excerpt's lines stand in their file in that order, so the README cannot drift."""

import re

import pytest

from tests.processes import ROOT

pytestmark = pytest.mark.unit

SHOWN = re.compile(r"<!-- (example|excerpt): (\S+) -->\n```\w*\n(.*?)```", re.S)


def shown() -> list[tuple[str, str, str]]:
    return SHOWN.findall((ROOT / "README.md").read_text())


def test_the_readme_shows_the_example_of_adding_a_job():
    assert {path for kind, path, _ in shown() if kind == "example"} >= {
        "services/tasks/src/tasks/work/stock_report.py",
        "services/web/src/web/report_views.py",
        "tests/integration/test_stock_report.py",
    }


@pytest.mark.parametrize(("kind", "path", "text"), shown(), ids=lambda value: str(value)[:60])
def test_what_the_readme_shows_is_the_code(kind, path, text):
    code = (ROOT / path).read_text()
    if kind == "example":
        assert text == code
    else:
        lines = iter(code.splitlines())
        missing = [line for line in text.splitlines() if line not in lines]
        assert missing == [], f"not in {path}, in this order"
