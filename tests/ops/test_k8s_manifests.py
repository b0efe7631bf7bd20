"""The Kubernetes configuration in ops/k8s agrees with the node it deploys.

Two levels: the source files (every kustomization's inputs exist, every GB_* literal is a real
setting with a valid value, ports, probes and the grace period match the node), and, where
``kubectl`` is installed, the manifests ``kubectl kustomize`` builds for each overlay.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gb.core.config import CONFIG_ENV, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "ops" / "k8s"
BASE = K8S / "base"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())
KUSTOMIZATIONS = sorted(K8S.rglob("kustomization.yaml"))

# Supplied by the Deployment (env), not by the ConfigMap.
POD_ENV = {"GB_NODE_ID", "GB_JWT_SECRET"}
TEST_SECRET = "k8s-manifest-test-secret-0123456789abcdef"


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
    return load_settings({**config, "GB_NODE_ID": "gb-0", "GB_JWT_SECRET": TEST_SECRET})


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


BASE_DOCS = list(resources_of(BASE))
DEPLOYMENT = find(BASE_DOCS, "Deployment")
CONTAINER = container(DEPLOYMENT)


def test_every_yaml_file_parses_and_names_its_kind() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) >= 12
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
    known = {Settings.env_name(name) for name in Settings.model_fields}
    assert set(config) <= known, set(config) - known
    assert not set(config) & POD_ENV
    assert CONFIG_ENV not in config
    settings = settings_from(config)  # raises ConfigError on any bad value
    assert settings.host == "0.0.0.0"  # reachable from the Service, not only from the pod
    assert settings.workers == 1  # one process per pod: one /metrics, HPA counts processes


def test_pod_env_names_real_settings() -> None:
    names = {e["name"] for e in CONTAINER["env"]}
    assert names == POD_ENV
    assert names <= {Settings.env_name(n) for n in Settings.model_fields}
    by_name = {e["name"]: e["valueFrom"] for e in CONTAINER["env"]}
    assert by_name["GB_NODE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert by_name["GB_JWT_SECRET"]["secretKeyRef"] == {"name": "gb-jwt", "key": "GB_JWT_SECRET"}
    assert CONTAINER["envFrom"] == [{"configMapRef": {"name": "gb-config"}}]


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
    sc = CONTAINER["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
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


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_built_overlay_is_consistent(kubectl: str, overlay: Path) -> None:
    docs = build(kubectl, overlay)
    kinds = {d["kind"] for d in docs}
    config_map = find(docs, "ConfigMap")
    deployment = find(docs, "Deployment")
    c = container(deployment)
    # The generated (hashed) name is the one the pod reads.
    assert c["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert config_map["data"] == merged_config(overlay)
    settings = settings_from(config_map["data"])
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert namespaces == {find(docs, "Namespace")["metadata"]["name"]}
    replicas = deployment["spec"]["replicas"]
    if settings.broker == "memory":
        # An in-process broker cannot reach other pods: one replica, nothing that adds more.
        assert replicas == 1
        assert "HorizontalPodAutoscaler" not in kinds
        secret = find(docs, "Secret")
        ref = {e["name"]: e for e in c["env"]}["GB_JWT_SECRET"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        assert "GB_JWT_SECRET" in secret["data"]
    else:
        hpa = find(docs, "HorizontalPodAutoscaler")
        assert hpa["spec"]["minReplicas"] <= replicas <= hpa["spec"]["maxReplicas"]
        assert "PodDisruptionBudget" in kinds
        assert settings.redis_url.startswith("redis://")
        assert "Secret" not in kinds  # production's secret is created outside the repository
