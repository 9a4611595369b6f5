"""The Kubernetes manifests, compose.yaml and the CI workflow agree with the code they deploy and check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from myservice import create_app
from myservice.settings import ENV_PREFIX, SCHEMA, SERVICE, load_settings

from .helpers import DEPLOYMENT, MIGRATE_JOB, REPO, Manifest, load_serving_config, manifests, pod

# Read by myservice.serving (and Hypercorn) rather than by the settings.
SERVER_VARIABLES = {"PORT", "HOST", "WORKERS", "ROOT_PATH", "QUART_SETTINGS", "PROMETHEUS_MULTIPROC_DIR"}
WORKLOADS = [DEPLOYMENT, MIGRATE_JOB]
DEPLOY_DOCS = REPO / "docs" / "deploy.md"


def container(workload: str = DEPLOYMENT) -> Manifest:
    """The workload's one container."""
    (only,) = pod(workload)["containers"]
    assert isinstance(only, dict)
    return only


def container_env(workload: str = DEPLOYMENT) -> dict[str, str]:
    """The container's environment as Kubernetes sets it: envFrom ConfigMaps, then env."""
    found = manifests()
    env: dict[str, str] = {}
    for source in container(workload)["envFrom"]:
        if "configMapRef" in source:
            env |= found[f"ConfigMap/{source['configMapRef']['name']}"]["data"]
    return env | {item["name"]: item["value"] for item in container(workload)["env"]}


def compose() -> dict[str, Any]:
    """compose.yaml's services."""
    services: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    return services


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


@pytest.mark.parametrize("workload", WORKLOADS)
def test_env_names_are_settings_or_server_variables(workload: str) -> None:
    """Every variable a container gets is one the service or its server reads: no misspelt setting."""
    known = SERVER_VARIABLES | {ENV_PREFIX + key for key in SCHEMA}
    assert set(container_env(workload)) - known == set()


def test_settings_file_in_the_config_map_is_for_production(tmp_path: Path) -> None:
    settings = mounted_settings(tmp_path)
    assert (settings["DEBUG"], settings["LOG_FORMAT"]) == (False, "json")


def test_termination_grace_outlasts_pre_stop_and_graceful_timeout(tmp_path: Path) -> None:
    sleep, seconds = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep == "sleep"
    budget = int(seconds) + float(mounted_settings(tmp_path)["GRACEFUL_TIMEOUT"])
    assert pod()["terminationGracePeriodSeconds"] > budget


@pytest.mark.parametrize("workload", WORKLOADS)
def test_writable_tmp_under_a_read_only_root(workload: str) -> None:
    """The root filesystem is read-only; /tmp, in memory and bounded, is the one writable folder."""
    assert container(workload)["securityContext"]["readOnlyRootFilesystem"] is True
    (tmp,) = [m for m in container(workload)["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert {"name": tmp["name"], "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}} in pod(workload)["volumes"]


def test_references_between_resources_resolve() -> None:
    """Selectors pick the Deployment's pods (and not the Job's), and every ConfigMap named exists."""
    found = manifests()
    labels = found[DEPLOYMENT]["spec"]["template"]["metadata"]["labels"]
    assert found[DEPLOYMENT]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert found[f"Service/{SERVICE}"]["spec"]["selector"].items() <= labels.items()
    job_labels = found[MIGRATE_JOB]["spec"]["template"]["metadata"]["labels"]
    assert not found[f"Service/{SERVICE}"]["spec"]["selector"].items() <= job_labels.items()
    target = found[f"HorizontalPodAutoscaler/{SERVICE}"]["spec"]["scaleTargetRef"]
    assert f"{target['kind']}/{target['name']}" in found
    for workload in WORKLOADS:
        config_maps = {s["configMapRef"]["name"] for s in container(workload)["envFrom"] if "configMapRef" in s}
        config_maps |= {v["configMap"]["name"] for v in pod(workload)["volumes"] if "configMap" in v}
        assert {f"ConfigMap/{name}" for name in config_maps} <= set(found), workload


def test_migrations_run_from_the_deployments_image() -> None:
    """The Job runs `alembic upgrade head` from the image's WORKDIR (which holds alembic.ini), in the pods' image."""
    job, server = container(MIGRATE_JOB), container(DEPLOYMENT)
    assert (job["image"], job["imagePullPolicy"]) == (server["image"], server["imagePullPolicy"])
    assert job["command"] == ["alembic", "upgrade", "head"]
    assert {"args", "workingDir"} & job.keys() == set()


def test_migrations_read_the_pods_settings_and_secrets() -> None:
    """The Job gets the Deployment's ConfigMaps, Secret, env and settings file, so it migrates the pods' database."""
    job, server = container(MIGRATE_JOB), container(DEPLOYMENT)
    assert job["envFrom"] == server["envFrom"]
    assert [item for item in server["env"] if item not in job["env"]] == []
    assert (job["volumeMounts"], pod(MIGRATE_JOB)["volumes"]) == (server["volumeMounts"], pod(DEPLOYMENT)["volumes"])


def test_migrations_run_as_restricted_as_the_pods() -> None:
    """The Job's pod and container have the Deployment's security context and resources."""
    job, server = pod(MIGRATE_JOB), pod(DEPLOYMENT)
    assert job["securityContext"] == server["securityContext"]
    assert job["automountServiceAccountToken"] is server["automountServiceAccountToken"] is False
    for key in ("securityContext", "resources"):
        assert container(MIGRATE_JOB)[key] == container(DEPLOYMENT)[key], key


def test_migrations_never_run_forever() -> None:
    """The Job stops after a few tries or at its deadline, whichever comes first, and is cleaned up later."""
    spec = manifests()[MIGRATE_JOB]["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert 0 <= spec["backoffLimit"] <= 3
    assert 0 < spec["activeDeadlineSeconds"] <= 3600
    assert spec["ttlSecondsAfterFinished"] > 0


def test_deploy_docs_wait_for_the_migrations_before_the_rollout() -> None:
    """docs/deploy.md re-creates the Job, waits for it past its deadline, then applies the Deployment."""
    name = MIGRATE_JOB.partition("/")[2]
    steps = [
        re.escape(f"kubectl delete job {name} --ignore-not-found"),
        re.escape("kubectl apply -f deploy/k8s/migrate-job.yaml"),
        re.escape("kubectl wait --for=condition=complete --timeout=") + r"(\d+)s " + re.escape(f"job/{name}"),
        re.escape("kubectl apply -f deploy/k8s/"),
    ]
    lines = r"\n".join(rf"{step}[ \t]*(?:#.*)?$" for step in steps)
    found = re.search(lines, DEPLOY_DOCS.read_text(), re.MULTILINE)
    assert found, f"docs/deploy.md does not run these steps in a row: {steps}"
    assert int(found[1]) > manifests()[MIGRATE_JOB]["spec"]["activeDeadlineSeconds"]


def test_database_url_comes_from_a_required_secret() -> None:
    """Both workloads need the Secret that docs/deploy.md creates with the database's URL."""
    secret = f"{SERVICE}-secrets"
    for workload in WORKLOADS:
        assert [s["secretRef"] for s in container(workload)["envFrom"] if "secretRef" in s] == [{"name": secret}]
    command = f"kubectl create secret generic {secret} \\\n    --from-literal={ENV_PREFIX}DATABASE_URL="
    assert command in DEPLOY_DOCS.read_text()


def test_compose_runs_the_service_after_its_migrations() -> None:
    """compose.yaml: a healthy database, then `alembic upgrade head` from the image, then the service."""
    services = compose()
    assert set(services) == {"db", "migrate", SERVICE}
    assert "healthcheck" in services["db"]
    assert services["migrate"]["command"] == container(MIGRATE_JOB)["command"]
    assert services["migrate"]["build"] == services[SERVICE]["build"] == "."
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services[SERVICE]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}


def test_compose_database_url_reaches_the_database() -> None:
    """migrate and the service get settings only, the db's URL among them; deploy.md's URL from the host matches."""
    services = compose()
    db = services["db"]["environment"]
    url = f"postgresql://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@{{host}}/{db['POSTGRES_DB']}"
    known = {ENV_PREFIX + key for key in SCHEMA}
    for name in ("migrate", SERVICE):
        assert set(services[name]["environment"]) <= known, name
        assert services[name]["environment"][f"{ENV_PREFIX}DATABASE_URL"] == url.format(host="db:5432"), name
    (published,) = services["db"]["ports"]
    host = published.rpartition(":")[0]
    assert f"{ENV_PREFIX}DATABASE_URL={url.format(host=host)}" in DEPLOY_DOCS.read_text()


def test_compose_publishes_the_servers_port_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's published port is the server's default port, on the host's loopback only."""
    default_port = int(load_serving_config(monkeypatch, WORKERS="1").bind[0].rpartition(":")[2])
    assert compose()[SERVICE]["ports"] == [f"127.0.0.1:{default_port}:{default_port}"]
    assert all(port.startswith("127.0.0.1:") for port in compose()["db"]["ports"])


def test_ci_workflow_gives_the_tests_a_postgresql_server() -> None:
    """GitHub's job runs PostgreSQL where .ci/run looks for one (127.0.0.1:5432, user postgres, no password)."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    postgres = job["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert (postgres["ports"], postgres["env"]) == (["5432:5432"], {"POSTGRES_HOST_AUTH_METHOD": "trust"})


def test_ci_workflow_runs_the_ci_script() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert [step.get("run") for step in job["steps"] if "run" in step] == [".ci/run"]
    (python,) = [step["with"]["python-version"] for step in job["steps"] if "setup-python" in step.get("uses", "")]
    assert python == "${{ matrix.python-version }}"  # the matrix lists them: test_dockerfile checks it
