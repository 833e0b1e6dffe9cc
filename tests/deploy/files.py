"""compose.yaml, compose.test.yaml, heroku.yml and the Dockerfile, read as data."""

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
# A variable with no other inside it: nested ones (${A:-${B}}) are resolved inside out.
VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])((?:(?!\$\{)[^}])*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, nested too, against `env`."""

    def value(match: re.Match[str]) -> str:
        name, kind, argument = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise KeyError(f"{name}: {argument}")
        return argument if kind == "-" else ""

    while (resolved := VARIABLE.sub(value, text)) != text:
        text = resolved
    return text


def compose(env: dict[str, str], *names: str) -> dict[str, Any]:
    """The compose files, interpolated and merged as `docker compose -f … -f …` does for
    these files: mappings merge key by key, later files win."""
    merged: dict[str, Any] = {}
    for name in names or ("compose.yaml",):
        merge(merged, yaml.safe_load(interpolate((ROOT / name).read_text(), env)))
    return merged


def merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def heroku() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "heroku.yml").read_text())


def dockerfile_stages(path: Path = ROOT / "Dockerfile") -> dict[str, str]:
    """Each stage's name and its instructions, those of the stages it is built FROM first."""
    stages: dict[str, str] = {}
    name = None
    for line in path.read_text().splitlines():
        found = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.IGNORECASE)
        if found:
            parent, name = found.groups()
            stages[name] = stages.get(parent, "")
        elif name:
            stages[name] += line + "\n"
    return stages


def stage_command(stage: str) -> list[str]:
    """The CMD a stage runs (its last, exec form)."""
    commands = re.findall(r"^CMD\s+(\[.*\])\s*$", dockerfile_stages()[stage], re.MULTILINE)
    return json.loads(commands[-1])


def is_script(command: str) -> bool:
    path = ROOT / command
    return path.is_file() and os.access(path, os.X_OK)
