"""The stack's log lines, as the tests read them from a process's log file."""

import json
from pathlib import Path
from typing import Any

import pytest


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of `log`, parsed: a line that is not a JSON object fails the test."""
    lines = []
    for number, line in enumerate(log.read_text().splitlines(), 1):
        try:
            parsed = json.loads(line)
        except ValueError:
            pytest.fail(f"{log.name}:{number} is not JSON: {line!r}")
        assert isinstance(parsed, dict), line
        lines.append(parsed)
    return lines


def for_a_person(log: Path) -> list[str]:
    """The lines at ERROR or above (JSON lines): what should make someone look."""
    return [
        f"{line['level']} {line['logger']}: {line['message']}"
        for line in json_lines(log)
        if line["level"] in ("ERROR", "CRITICAL")
    ]
