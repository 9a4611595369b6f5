"""The Kubernetes manifests and the CI workflow agree with the code they deploy and check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from myservice import create_app
from myservice.settings import ENV_PREFIX, SCHEMA, load_settings

from .helpers import REPO, Manifest, load_serving_config, manifests, pod

# Read by myservice.serving (and Hypercorn) rather than by the settings.
SERVER_VARIABLES = {"PORT", "HOST", "WORKERS", "ROOT_PATH", "QUART_SETTINGS", "PROMETHEUS_MULTIPROC_DIR"}


def container() -> Manifest:
    """The pod's one container."""
    (only,) = pod()["containers"]
    assert isinstance(only, dict)
    return only


def container_env() -> dict[str, str]:
    """The container's environment as Kubernetes sets it: envFrom ConfigMaps, then env."""
    found = manifests()
    env: dict[str, str] = {}
    for source in container()["envFrom"]:
        if "configMapRef" in source:
            env |= found[f"ConfigMap/{source['configMapRef']['name']}"]["data"]
    return env | {item["name"]: item["value"] for item in container()["env"]}


def mounted_settings(tmp_path: Path) -> dict[str, Any]:
    """The effective settings in the pod: the ConfigMap's file at QUART_SETTINGS, then the env."""
    env = container_env()
    mount = Path(env["QUART_SETTINGS"])
    (volume,) = [m for m in container()["volumeMounts"] if m["mountPath"] == str(mount.parent)]
    (config_map,) = [v["configMap"]["name"] for v in pod()["volumes"] if v["name"] == volume["name"]]
    local = tmp_path / mount.name
    local.write_text(manifests()[f"ConfigMap/{config_map}"]["data"][mount.name])
    return load_settings(environ=env | {"QUART_SETTINGS": str(local)})


def test_probes_are_routes_of_the_app() -> None:
    routes = {rule.rule for rule in create_app().url_map.iter_rules() if "GET" in (rule.methods or ())}
    root = container_env().get("ROOT_PATH", "")
    probes = {name: container()[name]["httpGet"] for name in ("livenessProbe", "readinessProbe")}
    assert {name: probe["path"].removeprefix(root) for name, probe in probes.items()} == {
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    assert {probe["path"].removeprefix(root) for probe in probes.values()} <= routes
    assert {probe["port"] for probe in probes.values()} == {"http"}


def test_ports_match_the_hypercorn_config(monkeypatch: pytest.MonkeyPatch) -> None:
    default_port = int(load_serving_config(monkeypatch, WORKERS="1").bind[0].rpartition(":")[2])
    assert container()["ports"] == [{"name": "http", "containerPort": default_port}]
    assert container_env()["PORT"] == str(default_port)
    assert manifests()["Service/myservice"]["spec"]["ports"][0]["targetPort"] == "http"


def test_env_names_are_settings_or_server_variables() -> None:
    known = SERVER_VARIABLES | {ENV_PREFIX + key for key in SCHEMA}
    assert set(container_env()) - known == set()


def test_settings_file_in_the_config_map_is_for_production(tmp_path: Path) -> None:
    settings = mounted_settings(tmp_path)
    assert (settings["DEBUG"], settings["LOG_FORMAT"]) == (False, "json")


def test_termination_grace_outlasts_pre_stop_and_graceful_timeout(tmp_path: Path) -> None:
    sleep, seconds = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep == "sleep"
    budget = int(seconds) + float(mounted_settings(tmp_path)["GRACEFUL_TIMEOUT"])
    assert pod()["terminationGracePeriodSeconds"] > budget


def test_writable_tmp_under_a_read_only_root() -> None:
    assert container()["securityContext"]["readOnlyRootFilesystem"] is True
    (tmp,) = [m for m in container()["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert {"name": tmp["name"], "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}} in pod()["volumes"]


def test_references_between_resources_resolve() -> None:
    found = manifests()
    labels = found["Deployment/myservice"]["spec"]["template"]["metadata"]["labels"]
    assert found["Deployment/myservice"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert found["Service/myservice"]["spec"]["selector"].items() <= labels.items()
    target = found["HorizontalPodAutoscaler/myservice"]["spec"]["scaleTargetRef"]
    assert f"{target['kind']}/{target['name']}" in found
    config_maps = {s["configMapRef"]["name"] for s in container()["envFrom"] if "configMapRef" in s}
    config_maps |= {v["configMap"]["name"] for v in pod()["volumes"] if "configMap" in v}
    assert {f"ConfigMap/{name}" for name in config_maps} <= set(found)


def test_ci_workflow_runs_the_ci_script() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert [step.get("run") for step in job["steps"] if "run" in step] == [".ci/run"]
    (python,) = [step["with"]["python-version"] for step in job["steps"] if "setup-python" in step.get("uses", "")]
    assert python == "${{ matrix.python-version }}"  # the matrix lists them: test_dockerfile checks it
