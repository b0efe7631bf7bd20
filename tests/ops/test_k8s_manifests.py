"""The Kubernetes configuration in ops/k8s agrees with the node it deploys.

Two levels: the source files (every kustomization's inputs exist, every GB_* literal and
variable is a real setting with a valid value, ports, probes and the grace period match the node,
the init container migrates with ``gb migrate`` before ``gb serve`` starts), and, where
``kubectl`` is installed, the manifests ``kubectl kustomize`` builds for each overlay.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gb.core.cli import _parser as cli_parser
from gb.core.config import CONFIG_ENV, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "ops" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))

# Supplied by the Deployment (env), not by the ConfigMap.
POD_ENV = {"GB_NODE_ID", "GB_JWT_SECRET", "GB_DATABASE_URL"}
TEST_SECRET = "k8s-manifest-test-secret-0123456789abcdef"
TEST_DATABASE_URL = "postgresql://gb:secret@gb-control-rw.postgres:5432/gb"
DATABASE_SECRET = {"name": "gb-database", "key": "url"}
SETTING_NAMES = {Settings.env_name(name) for name in Settings.model_fields}


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open() as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def load_one(path: Path) -> dict[str, Any]:
    (doc,) = load_all(path)
    return doc


def resources_of(directory: Path) -> Iterator[dict[str, Any]]:
    """Every manifest a kustomization in ``directory`` lists directly (not its bases)."""
    for entry in load_one(directory / "kustomization.yaml").get("resources", []):
        path = directory / entry
        if path.is_file():
            yield from load_all(path)


def find(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def literals(directory: Path) -> dict[str, str]:
    """The gb-config literals a kustomization declares, as a dict."""
    out: dict[str, str] = {}
    for gen in load_one(directory / "kustomization.yaml").get("configMapGenerator", []):
        if gen["name"] == "gb-config":
            out.update(line.split("=", 1) for line in gen["literals"])
    return out


def merged_config(overlay: Path | None) -> dict[str, str]:
    """The base's config with ``overlay``'s merged over it, as the pod sees it."""
    config = literals(BASE)
    if overlay is not None:
        config.update(literals(overlay))
    return config


def settings_from(config: dict[str, str]) -> Settings:
    pod_env = {
        "GB_NODE_ID": "gb-0",
        "GB_JWT_SECRET": TEST_SECRET,
        "GB_DATABASE_URL": TEST_DATABASE_URL,
    }
    return load_settings({**pod_env, **config})


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    (c,) = containers
    return c


def init_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["initContainers"]
    (c,) = containers
    return c


def secret_refs(c: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The Secret key each of ``c``'s variables reads, by variable name."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def gb_command(c: dict[str, Any]) -> list[str]:
    """The ``gb`` arguments ``c`` runs, checked to be a command the CLI knows."""
    assert c["command"] == ["gb"]
    argv: list[str] = c["args"]
    cli_parser().parse_args(argv)  # exits (SystemExit) on an unknown command or option
    return argv


BASE_DOCS = list(resources_of(BASE))
DEPLOYMENT = find(BASE_DOCS, "Deployment")
CONTAINER = container(DEPLOYMENT)
MIGRATE = init_container(DEPLOYMENT)


def test_every_yaml_file_parses_and_names_its_kind() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) >= 13
    for path in files:
        for doc in load_all(path):
            assert "kind" in doc or "$patch" in doc, path


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.parent.name)
def test_kustomization_inputs_exist(kustomization: Path) -> None:
    spec = load_one(kustomization)
    directory = kustomization.parent
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        assert target.is_file() or (target / "kustomization.yaml").is_file(), entry
    for patch in spec.get("patches", []):
        assert "path" in patch or "patch" in patch, patch
        if "path" in patch:
            assert (directory / patch["path"]).is_file(), patch["path"]


def test_overlays_build_on_the_base() -> None:
    assert [p.name for p in OVERLAYS] == ["dev", "production"]
    for overlay in OVERLAYS:
        spec = load_one(overlay / "kustomization.yaml")
        assert "../../base" in spec["resources"]
        for gen in spec["configMapGenerator"]:
            # Without merge, kustomize would refuse a second gb-config (or replace the base's).
            assert gen["behavior"] == "merge"


@pytest.mark.parametrize("overlay", [None, *OVERLAYS], ids=lambda p: p.name if p else "base")
def test_config_keys_are_real_settings_with_valid_values(overlay: Path | None) -> None:
    config = merged_config(overlay)
    assert set(config) <= SETTING_NAMES, set(config) - SETTING_NAMES
    assert not set(config) & POD_ENV
    assert CONFIG_ENV not in config
    settings = settings_from(config)  # raises ConfigError on any bad value
    assert settings.host == "0.0.0.0"  # reachable from the Service, not only from the pod
    assert settings.workers == 1  # one process per pod: one /metrics, HPA counts processes


def test_pod_env_names_real_settings() -> None:
    names = {e["name"] for e in CONTAINER["env"]}
    assert names == POD_ENV
    assert names <= SETTING_NAMES
    by_name = {e["name"]: e["valueFrom"] for e in CONTAINER["env"]}
    assert by_name["GB_NODE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert by_name["GB_JWT_SECRET"]["secretKeyRef"] == {"name": "gb-jwt", "key": "GB_JWT_SECRET"}
    # The control database comes from a Secret, never from the ConfigMap: it holds a password.
    assert by_name["GB_DATABASE_URL"]["secretKeyRef"] == DATABASE_SECRET
    assert CONTAINER["envFrom"] == [{"configMapRef": {"name": "gb-config"}}]


def test_every_gb_variable_of_every_container_is_a_real_setting() -> None:
    """Init containers and patches included: gb refuses unknown GB_* variables at start."""
    containers = [CONTAINER, MIGRATE]
    for overlay in OVERLAYS:
        for doc in resources_of(overlay):
            containers += (
                doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
            )
        for gen in load_one(overlay / "kustomization.yaml").get("patches", []):
            if "path" in gen:
                patch = load_one(overlay / gen["path"])
                containers += (
                    patch["spec"].get("template", {}).get("spec", {}).get("containers", [])
                )
    names = {e["name"] for c in containers for e in c.get("env", [])}
    assert "GB_DATABASE_URL" in names
    gb_names = {n for n in names if n.startswith("GB_")}
    assert gb_names <= SETTING_NAMES, gb_names - SETTING_NAMES


def test_migrate_init_container_runs_gb_migrate_before_serve() -> None:
    pod = DEPLOYMENT["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["migrate"]
    assert gb_command(MIGRATE) == ["migrate"]
    assert gb_command(CONTAINER) == ["serve"]
    # The image that serves is the one whose migrations ran, with the same settings.
    assert MIGRATE["image"] == CONTAINER["image"]
    assert MIGRATE["envFrom"] == CONTAINER["envFrom"]
    assert secret_refs(MIGRATE) == {"GB_DATABASE_URL": DATABASE_SECRET}
    assert secret_refs(CONTAINER)["GB_DATABASE_URL"] == DATABASE_SECRET
    # `gb migrate` loads the same settings the node does; with the URL it never starts an
    # embedded PostgreSQL (which would need the data volume).
    settings = settings_from(literals(BASE))
    assert settings.database_url == TEST_DATABASE_URL
    mounts = {m["mountPath"] for m in MIGRATE["volumeMounts"]}
    assert str(settings.data_dir) not in mounts
    # A failing migration must hold the rollout with the old pods serving.
    assert DEPLOYMENT["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_service_links_are_off() -> None:
    # A Service named "gb" would otherwise put GB_PORT, GB_SERVICE_HOST, ... into the pod, and
    # gb refuses unknown GB_* variables at start.
    assert DEPLOYMENT["spec"]["template"]["spec"]["enableServiceLinks"] is False
    service = find(BASE_DOCS, "Service")
    assert service["metadata"]["name"] == "gb"
    linked = {f"GB_PORT_{p['port']}_TCP" for p in service["spec"]["ports"]}
    with pytest.raises(ValueError, match="unknown setting"):
        settings_from({**literals(BASE), **dict.fromkeys(linked, "tcp://10.0.0.1:1")})


def test_container_ports_match_the_settings_and_their_defaults() -> None:
    settings = settings_from(literals(BASE))
    ports = {p["name"]: p["containerPort"] for p in CONTAINER["ports"]}
    assert ports == {"ws": settings.ws_port, "http": settings.http_port}
    defaults = Settings.model_fields
    assert ports == {"ws": defaults["ws_port"].default, "http": defaults["http_port"].default}
    service = find(BASE_DOCS, "Service")
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        name: (port, name) for name, port in ports.items()
    }
    annotations = DEPLOYMENT["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.http_port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_probes_point_at_the_control_plane_paths() -> None:
    from gb.core.api.health import router

    served = {route.path for route in router.routes}  # type: ignore[attr-defined]
    probes = {
        kind: CONTAINER[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["path"] in served
        assert probe["port"] == "http"


def test_grace_period_outlasts_pre_stop_and_drain() -> None:
    pod = DEPLOYMENT["spec"]["template"]["spec"]
    pre_stop = CONTAINER["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    for overlay in [None, *OVERLAYS]:
        drain = settings_from(merged_config(overlay)).drain_timeout
        assert pod["terminationGracePeriodSeconds"] > float(pre_stop[1]) + drain


def test_pod_runs_unprivileged_on_a_read_only_root() -> None:
    pod = DEPLOYMENT["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    for c in (CONTAINER, MIGRATE):
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert c["resources"]["limits"]["memory"]
    # The only writable paths are volumes, and the data directory is one of them.
    mounts = {m["mountPath"] for m in CONTAINER["volumeMounts"]}
    assert str(settings_from(literals(BASE)).data_dir) in mounts
    assert CONTAINER["resources"]["requests"]["cpu"]
    assert CONTAINER["resources"]["limits"]["memory"]
    assert pod["affinity"]["podAntiAffinity"]


def test_autoscaler_targets_the_deployment_on_cpu_and_connections() -> None:
    hpa = find(BASE_DOCS, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == DEPLOYMENT["metadata"]["name"]
    metrics = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    pods = metrics["Pods"]["pods"]
    # The gauge the node exports: namespace "gb", name "connections".
    from gb.core.metrics import Metrics

    exported = {m.name for m in Metrics(process=False).registry.collect()}
    assert pods["metric"]["name"] in exported
    per_pod = int(pods["target"]["averageValue"])
    assert per_pod < settings_from(literals(BASE)).max_connections


def test_disruption_budget_and_ingress() -> None:
    pdb = find(BASE_DOCS, "PodDisruptionBudget")
    selector = DEPLOYMENT["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    assert find(BASE_DOCS, "Service")["spec"]["selector"] == selector
    ingress = find(BASE_DOCS, "Ingress")
    notes = ingress["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    backends = {
        p["path"]: p["backend"]["service"]["port"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    assert backends["/ws"] == "ws"
    # Probes and metrics stay inside the cluster.
    assert not {"/metrics", "/healthz", "/readyz", "/"} & set(backends)


@pytest.fixture(scope="module")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed: the built manifests are not checked")
    return path


def build(kubectl: str, overlay: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d is not None]


def secrets_by_base_name(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The built Secrets by their name without kustomize's hash suffix."""
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if doc["kind"] == "Secret":
            name = doc["metadata"]["name"]
            out[name.rsplit("-", 1)[0] if "-" in name else name] = doc
    return out


def secret_value(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_built_overlay_is_consistent(kubectl: str, overlay: Path) -> None:
    docs = build(kubectl, overlay)
    kinds = {d["kind"] for d in docs}
    config_map = find(docs, "ConfigMap")
    deployment = find(docs, "Deployment")
    c = container(deployment)
    migrate = init_container(deployment)
    # The generated (hashed) name is the one the pod reads, in both containers.
    for each in (c, migrate):
        assert each["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert secret_refs(migrate)["GB_DATABASE_URL"] == secret_refs(c)["GB_DATABASE_URL"]
    assert gb_command(migrate) == ["migrate"]
    assert config_map["data"] == merged_config(overlay)
    settings = settings_from(config_map["data"])
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert namespaces == {find(docs, "Namespace")["metadata"]["name"]}
    replicas = deployment["spec"]["replicas"]
    secrets = secrets_by_base_name(docs)
    if settings.broker == "memory":
        # An in-process broker cannot reach other pods: one replica, nothing that adds more.
        assert replicas == 1
        assert "HorizontalPodAutoscaler" not in kinds
        refs = secret_refs(c)
        assert refs["GB_JWT_SECRET"]["name"] == secrets["gb-jwt"]["metadata"]["name"]
        assert "GB_JWT_SECRET" in secrets["gb-jwt"]["data"]
        check_dev_database(docs, secrets, refs["GB_DATABASE_URL"])
    else:
        hpa = find(docs, "HorizontalPodAutoscaler")
        assert hpa["spec"]["minReplicas"] <= replicas <= hpa["spec"]["maxReplicas"]
        assert "PodDisruptionBudget" in kinds
        assert settings.redis_url.startswith("redis://")
        # Production's Secrets (gb-jwt, gb-database) are created outside the repository, and
        # its PostgreSQL clusters run outside these manifests: no database operator's CRD.
        assert "Secret" not in kinds
        assert secret_refs(c)["GB_DATABASE_URL"] == DATABASE_SECRET
        assert not [d for d in docs if "cnpg.io" in d["apiVersion"]]
        assert "StatefulSet" not in kinds
        # The control pool may grow to the pool size in every pod: at the autoscaler's maximum
        # that must stay below the max_connections the README gives the control cluster.
        readme = (overlay / "README.md").read_text()
        (max_connections,) = re.findall(r'max_connections: "(\d+)"', readme)
        assert hpa["spec"]["maxReplicas"] * settings.db_pool_size < int(max_connections)


def check_dev_database(
    docs: list[dict[str, Any]], secrets: dict[str, dict[str, Any]], ref: dict[str, str]
) -> None:
    """The dev overlay's gb-database URL reaches its own PostgreSQL with its own password."""
    secret = secrets["gb-database"]
    assert ref == {"name": secret["metadata"]["name"], "key": "url"}
    url = secret_value(secret, "url")
    assert settings_from({**literals(BASE), "GB_DATABASE_URL": url}).database_url == url
    parts = urlsplit(url)
    service = [
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == parts.hostname
    ]
    (postgres_service,) = service
    assert parts.port in {p["port"] for p in postgres_service["spec"]["ports"]}
    (statefulset,) = [d for d in docs if d["kind"] == "StatefulSet"]
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert postgres_service["spec"]["selector"].items() <= labels.items()
    env = {e["name"]: e for e in container(statefulset)["env"]}
    assert env["POSTGRES_DB"]["value"] == parts.path.lstrip("/")
    password_ref = env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert password_ref["name"] == secrets["postgres-dev"]["metadata"]["name"]
    assert secret_value(secrets["postgres-dev"], password_ref["key"]) == parts.password
    # The superuser: the first `gb migrate` may create the roles gb_app and gb_platform.
    assert parts.username == "postgres"
