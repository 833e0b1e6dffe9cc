""".env.example documents every setting, and only variables something reads."""

import re

import pytest

from tasks.settings import Settings
from tests.processes import ROOT
from web.gunicorn_conf import ServerSettings

pytestmark = pytest.mark.unit

# Who reads the variables that are not settings of the Python code: the start scripts
# (worker pool and queues), compose (the servers' passwords, published ports), Flower, make run,
# the OpenTelemetry SDK (its OTEL_* variables) and tasks/observability/tracing.py.
OTHER_READERS = [
    *(ROOT / "services").glob("*/start"),
    *(ROOT / "services").glob("*/*healthcheck"),
    ROOT / "services" / "worker" / "beat",
    ROOT / "compose.yaml",
    ROOT / "Makefile",
    *(ROOT / "devstack").glob("*.py"),
    ROOT / "services" / "tasks" / "src" / "tasks" / "observability" / "tracing.py",
]


def opentelemetry_sdk_variables() -> set[str]:
    """The OTEL_* variables the OpenTelemetry SDK reads itself (its own list of them)."""
    import opentelemetry.environment_variables as api
    import opentelemetry.sdk.environment_variables as sdk

    return {
        value
        for module in (api, sdk)
        for name, value in vars(module).items()
        if name.startswith("OTEL_") and isinstance(value, str)
    }


def documented() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", text, re.M))


def settings_variables() -> set[str]:
    fields = {**Settings.model_fields, **ServerSettings.model_fields}
    return {name.upper() for name in fields}


def test_every_setting_is_documented():
    assert sorted(settings_variables() - documented()) == []


def test_every_other_variable_documented_is_read_by_something():
    readers = "\n".join(path.read_text() for path in OTHER_READERS)
    read = settings_variables() | opentelemetry_sdk_variables()
    unread = [name for name in documented() - read if name not in readers]
    assert sorted(unread) == []


def test_the_example_is_a_valid_development_configuration():
    text = (ROOT / ".env.example").read_text()
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", text, re.M))
    assert Settings.from_environ(values).app_env == "development"
