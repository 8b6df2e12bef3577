"""deploy/kubernetes rendered by ``kubectl kustomize`` and every object validated against the
Kubernetes schemas (kubernetes-validate); then what the manifests promise, checked against
the service itself (its settings, its metrics, its probes)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from service.metrics import Metrics
from service.settings import ENV_PREFIX, Settings

from ..service.helpers import REPO

KUBE = REPO / "deploy" / "kubernetes"
TREES = [KUBE / "base", KUBE / "overlays" / "example"]
K8S_VERSION = "1.30.0"
# Settings another round-2 change adds (the model repository); the manifest mounts it.
COMING: set[str] = set()  # variables the manifests set ahead of a setting


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is required in CI (.ci/run installs it)")
    pytest.skip(f"{what} is not installed")


def _render(tree: Path) -> list[dict[str, Any]]:
    try:
        import yaml
    except ImportError:
        _missing("PyYAML")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        _missing("kubectl")
    out = subprocess.run([kubectl, "kustomize", str(tree)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=TREES, ids=lambda p: p.name)
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return _render(request.param)


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def test_every_object_is_valid(objects: list[dict[str, Any]]) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        _missing("kubernetes-validate")
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_deployment(objects: list[dict[str, Any]]) -> None:
    deploy = _one(objects, "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    (box,) = pod["containers"]
    assert box["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert box["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(box["resources"]["requests"]) == set(box["resources"]["limits"]) == {
        "cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert box["securityContext"]["readOnlyRootFilesystem"] is True
    assert box["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in box["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    env = {e["name"]: e.get("value") for e in box["env"]}
    models = volumes[mounts[env["GRADSERVE_MODEL_REPOSITORY"]]]
    config_maps = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    assert models["configMap"]["name"] in config_maps
    assert all(item["path"].endswith("/graph.json") for item in models["configMap"]["items"])
    port = int(env["GRADSERVE_PORT"])
    assert box["ports"][0]["containerPort"] == port
    # the drain fits in the grace period, after the preStop pause
    pause = int(box["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pause + float(env["GRADSERVE_SHUTDOWN_TIMEOUT"]) < pod[
        "terminationGracePeriodSeconds"]


def test_environment_names_are_settings(objects: list[dict[str, Any]]) -> None:
    """A misspelt GRADSERVE_* variable would only be warned about at start: catch it here."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields} | COMING
    (box,) = _one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    for var in box["env"]:
        if var["name"].startswith(ENV_PREFIX):
            assert var["name"] in known, var["name"]
    env = {e["name"]: e["value"] for e in box["env"] if "value" in e}
    Settings(**{k[len(ENV_PREFIX):].lower(): v for k, v in env.items()
                if k.startswith(ENV_PREFIX) and k not in COMING})


def test_autoscaling_and_disruption(objects: list[dict[str, Any]]) -> None:
    hpa = _one(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    by_type = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert by_type["Resource"]["resource"]["name"] == "cpu"
    exported = {m.name for m in Metrics().registry.collect()}
    assert by_type["Pods"]["pods"]["metric"]["name"] in exported
    labels = _one(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    assert _one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == labels
    assert _one(objects, "Service")["spec"]["selector"] == labels
    assert hpa["spec"]["scaleTargetRef"]["name"] == _one(objects, "Deployment")["metadata"][
        "name"]


def test_the_overlay_changes_what_it_says() -> None:
    objects = _render(KUBE / "overlays" / "example")
    deploy = _one(objects, "Deployment")
    assert deploy["metadata"]["namespace"] == "gradserve"
    assert deploy["spec"]["replicas"] == 3
    (box,) = deploy["spec"]["template"]["spec"]["containers"]
    assert box["image"] == "registry.example.com/gradserve:0.1.0"
    names = [e["name"] for e in box["env"]]
    assert "GRADSERVE_API_KEY_HASHES" in names and "GRADSERVE_PORT" in names
