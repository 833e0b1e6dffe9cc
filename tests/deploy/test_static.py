"""What can be checked of the images and deployments without a Docker engine."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.files import (
    ROOT,
    compose,
    dockerfile_stages,
    heroku,
    is_script,
    stage_command,
)

pytestmark = pytest.mark.unit

BIN = Path(sys.executable).parent
ENV = {
    "SECRET_KEY": "s",
    "POSTGRES_PASSWORD": "p",
    "POSTGRES_APP_PASSWORD": "q",
    "REDIS_PASSWORD": "r",
    "FLOWER_BASIC_AUTH": "a:b",
}


def check_compose_schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
    )


def test_both_compose_files_and_the_merged_pair_follow_the_compose_specification(tmp_path):
    merged = tmp_path / "merged.yaml"
    merged.write_text(yaml.safe_dump(compose(ENV, "compose.yaml", "compose.test.yaml")))
    result = check_compose_schema(ROOT / "compose.yaml", ROOT / "compose.test.yaml", merged)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_does_catch_a_broken_file(tmp_path):
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  web:\n    ports: 8000\n    restart: sometimes\n")
    assert check_compose_schema(broken).returncode != 0


def test_the_dockerfile_passes_hadolint():
    result = subprocess.run(
        [str(BIN / "hadolint"), "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_demands_its_secrets_instead_of_running_without_them():
    for missing in set(ENV) - {"POSTGRES_APP_PASSWORD"}:
        with pytest.raises(KeyError, match=missing):
            compose({k: v for k, v in ENV.items() if k != missing})


def test_web_and_workers_connect_as_the_app_role_and_only_migrate_as_the_owner():
    services = compose(ENV)["services"]
    for name, service in services.items():
        url = service.get("environment", {}).get("DATABASE_URL")
        if url is None:
            continue
        user = url.split("//")[1].split(":")[0]
        assert user == ("postgres" if name == "migrate" else "products_app"), name
    assert services["migrate"]["environment"]["DATABASE_APP_PASSWORD"] == "q"
    # Without POSTGRES_APP_PASSWORD (make up adds one), the app role has the owner's.
    fallback = compose({k: v for k, v in ENV.items() if k != "POSTGRES_APP_PASSWORD"})
    assert fallback["services"]["migrate"]["environment"]["DATABASE_APP_PASSWORD"] == "p"


def test_compose_services_use_stages_and_scripts_that_exist():
    stages = dockerfile_stages()
    services = compose(ENV)["services"]
    for name, service in services.items():
        if "build" not in service:
            continue
        stage = service["build"]["target"]
        assert stage in stages, f"{name}: no stage {stage}"
        for command in [service["command"][0], *service.get("healthcheck", {}).get("test", [])[1:]]:
            assert is_script(command), f"{name}: {command} is not an executable script"
            assert command in stages[stage], f"{name}: stage {stage} does not copy {command}"
    ports = {
        name
        for name, service in services.items()
        if service.get("ports") and not service.get("profiles")
    }
    assert ports == {"web", "flower"}


def test_compose_starts_in_order_after_healthy_servers_and_migrations():
    services = compose(ENV)["services"]
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "--appendonly" in services["redis"]["command"]
    assert "--requirepass" in services["redis"]["command"]


def test_heroku_builds_the_same_stages_and_runs_the_same_commands_as_compose():
    app, stages, services = heroku(), dockerfile_stages(), compose(ENV)["services"]
    built = app["build"]["docker"]
    assert set(built) == {"web", "worker"}
    for image in built.values():
        assert (ROOT / image["dockerfile"]).is_file()
        assert image["target"] in stages
    assert app["release"]["image"] in built
    assert app["release"]["command"] == services["migrate"]["command"]
    for process, command in app["run"].items():
        assert is_script(command)
        assert command in stages[built[process]["target"]]
        assert [command] == services[process]["command"]


def test_each_compose_worker_service_names_its_own_celery_node():
    """Two services on one host with one node name are merged into one node by Flower."""
    services = compose(ENV)["services"]
    workers = {
        name: service["environment"].get("CELERY_WORKER_NAME", "worker")
        for name, service in services.items()
        if service.get("command") == ["services/worker/start"]
    }
    assert set(workers) == {"worker", "io"}
    assert len(set(workers.values())) == len(workers), workers


def readme_image_route() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.DOTALL)
    [route] = [block for block in blocks if "heroku container:release" in block]
    return route


def test_the_readme_image_route_and_heroku_yml_release_the_same_commands():
    """The image route (README) and the Git route (heroku.yml): the same process types, each
    running the same script; the release phase runs the migrations in both."""
    app, route = heroku(), readme_image_route()
    built = dict(re.findall(r"docker build --target (\S+)\s+-t \S+/(\S+) \.", route))
    pushed = set(re.findall(r"docker push \S+/(\S+)", route))
    released = set(re.search(r"heroku container:release (.+)", route).group(1).split())
    assert built == {name: name for name in built}, "each process type from its own stage"
    assert set(built) == pushed == released == {*app["run"], "release"}
    for process, command in app["run"].items():
        assert stage_command(process) == [command]
        assert app["build"]["docker"][process]["target"] == process
    assert stage_command("release") == app["release"]["command"]
    assert app["release"]["command"] == compose(ENV)["services"]["migrate"]["command"]
