"""compose's Prometheus (the `observability` profile) and the files of services/prometheus/,
read as data: the default stack is unchanged, and every file Prometheus reads is mounted,
exists or is written by its start script. (tests/system/test_prometheus.py runs them.)"""

import os
import re

import pytest
import yaml

from tests.deploy.files import ROOT, compose
from tests.deploy.test_static import ENV

pytestmark = pytest.mark.unit

FILES = ROOT / "services" / "prometheus"
IN_CONTAINER = "/etc/prometheus"


def prometheus_service() -> dict:
    return compose(ENV)["services"]["prometheus"]


def mounts() -> dict[str, str]:
    """The bind mounts of compose's prometheus: where in the container, from where."""
    return {
        target: source
        for source, target, *_ in (volume.split(":") for volume in prometheus_service()["volumes"])
        if source.startswith("./")
    }


def read_paths(config: dict) -> set[str]:
    """Every file prometheus.yml makes Prometheus read, as written there."""
    paths = set(config.get("rule_files", []))
    for job in config["scrape_configs"]:
        for sd in job.get("file_sd_configs", []):
            paths.update(sd["files"])
        paths.add(job.get("authorization", {}).get("credentials_file", ""))
        paths.add(job.get("basic_auth", {}).get("password_file", ""))
    return paths - {""}


def test_prometheus_runs_only_in_its_profile_and_the_default_stack_is_unchanged():
    services = compose(ENV)["services"]
    assert prometheus_service()["profiles"] == ["observability"]
    assert [name for name, service in services.items() if service.get("profiles")] == ["prometheus"]
    # No new variable is required: the default stack starts with the same .env as before.
    assert "PROMETHEUS_API_KEY" not in ENV


def test_the_image_is_pinned_to_a_release():
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus_service()["image"])


def test_every_file_prometheus_reads_is_mounted_or_written_by_its_start_script():
    config = yaml.safe_load((FILES / "prometheus.yml").read_text())
    start = (FILES / "start").read_text()
    mounted = mounts()
    assert prometheus_service()["entrypoint"] == [f"{IN_CONTAINER}/start"]
    assert mounted[f"{IN_CONTAINER}/start"] == "./services/prometheus/start"
    assert mounted[f"{IN_CONTAINER}/prometheus.yml"] == "./services/prometheus/prometheus.yml"
    for path in read_paths(config):
        assert not path.startswith("/"), f"{path}: paths are relative to prometheus.yml"
        if path.startswith("secrets/"):
            assert f'"$here/{path}"' in start, f"{path} is not written by the start script"
            continue
        top = path.split("/")[0]
        assert mounted[f"{IN_CONTAINER}/{top}"] == f"./services/prometheus/{top}", path
        assert list(FILES.glob(path)), f"{path} names no file of services/prometheus"
    assert os.access(FILES / "start", os.X_OK)


def test_composes_targets_are_its_web_and_flower_services():
    services = compose(ENV)["services"]
    for job, port in (("web", "8000"), ("flower", "5555")):
        [group] = yaml.safe_load((FILES / "targets" / f"{job}.yml").read_text())
        assert group["targets"] == [f"{job}:{port}"]
        assert any(mapping.endswith(f":{port}") for mapping in services[job]["ports"])


def test_credentials_are_read_from_files_never_written_in_the_configuration():
    config = (FILES / "prometheus.yml").read_text()
    assert "password:" not in config and "credentials:" not in config
