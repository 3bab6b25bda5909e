#!/usr/bin/env python3
"""Checks of what the master bootstrap installs in the cluster (infra/k8s/, render-node-config.sh).

1. infra/k8s/rbac.yaml grants the autoscaler exactly the verbs it needs, nothing more, and has
   its long-lived token Secret;
2. infra/k8s/monitoring.yaml: Prometheus, Alertmanager and kube-state-metrics tolerate the
   master's taint and are pinned to it; every image is pinned to a version tag; no Service is
   exposed outside the cluster; Prometheus keeps 7 days and scrapes every 15 s (from
   prometheus.yml);
3. infra/scripts/render-node-config.sh renders the real alertmanager/ files: exactly the two
   placeholders replaced (byte-for-byte equal to a literal replacement), the cluster label and
   the webhook URL where Prometheus and Alertmanager read them, nothing else touched.
(The manifests' schema is checked separately, by kubernetes-validate --strict.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
RENDER = ROOT / "infra" / "scripts" / "render-node-config.sh"
AM = ROOT / "alertmanager"
TAINT = "node-role.kubernetes.io/control-plane"

EXPECTED_RULES = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["get", "list"]},
]


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def find(items, kind, name):
    for d in items:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise KeyError(f"{kind}/{name}")


def check_rbac(errors: list[str]) -> None:
    items = docs(K8S / "rbac.yaml")
    sa = find(items, "ServiceAccount", "k3s-autoscaler")
    if sa["metadata"].get("namespace") != "kube-system":
        errors.append("rbac: ServiceAccount k3s-autoscaler must be in kube-system")
    role = find(items, "ClusterRole", "k3s-autoscaler")
    got = sorted(role["rules"], key=repr)
    if got != sorted(EXPECTED_RULES, key=repr):
        errors.append(f"rbac: ClusterRole rules differ from the autoscaler's needs: {role['rules']}")
    binding = find(items, "ClusterRoleBinding", "k3s-autoscaler")
    if binding["roleRef"]["name"] != "k3s-autoscaler" or binding["subjects"] != [
            {"kind": "ServiceAccount", "name": "k3s-autoscaler", "namespace": "kube-system"}]:
        errors.append("rbac: the binding must tie ClusterRole k3s-autoscaler to kube-system/k3s-autoscaler only")
    secret = find(items, "Secret", "k3s-autoscaler-token")
    if secret.get("type") != "kubernetes.io/service-account-token" or \
            secret["metadata"].get("annotations", {}).get("kubernetes.io/service-account.name") != "k3s-autoscaler":
        errors.append("rbac: the token Secret must be a service-account-token for k3s-autoscaler")
    kinds = sorted(d["kind"] for d in items)
    if kinds != ["ClusterRole", "ClusterRoleBinding", "Secret", "ServiceAccount"]:
        errors.append(f"rbac: unexpected objects {kinds}")


def check_monitoring(errors: list[str]) -> None:
    items = docs(K8S / "monitoring.yaml")
    for name in ("prometheus", "alertmanager", "kube-state-metrics"):
        spec = find(items, "Deployment", name)["spec"]["template"]["spec"]
        if spec.get("nodeSelector") != {TAINT: "true"}:
            errors.append(f"monitoring: {name} must be pinned to the master ({TAINT}=true)")
        if not any(t.get("key") == TAINT and t.get("effect") == "NoSchedule" for t in spec.get("tolerations", [])):
            errors.append(f"monitoring: {name} must tolerate {TAINT}:NoSchedule")
    ds = find(items, "DaemonSet", "node-exporter")["spec"]["template"]["spec"]
    if {"operator": "Exists"} not in ds.get("tolerations", []):
        errors.append("monitoring: node-exporter must run on every node (tolerate all taints)")
    if [p["name"] for c in ds["containers"] for p in c.get("ports", [])] != ["metrics"]:
        errors.append("monitoring: node-exporter's port must be named metrics (prometheus.yml keeps it by name)")
    for d in items:
        if d["kind"] in ("Deployment", "DaemonSet"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                image = c["image"]
                tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
                if not tag or tag == "latest" or not tag.startswith("v"):
                    errors.append(f"monitoring: image {image} is not pinned to a version tag")
        if d["kind"] == "Service" and d["spec"].get("type", "ClusterIP") != "ClusterIP":
            errors.append(f"monitoring: Service {d['metadata']['name']} must stay ClusterIP")
        if d["kind"] == "Service" and any("nodePort" in p for p in d["spec"].get("ports", [])):
            errors.append(f"monitoring: Service {d['metadata']['name']} has a nodePort")
    ksm = find(items, "Service", "kube-state-metrics")
    if [p["name"] for p in ksm["spec"]["ports"]] != ["http-metrics"]:
        errors.append("monitoring: the kube-state-metrics Service port must be named http-metrics")
    prom = find(items, "Deployment", "prometheus")["spec"]["template"]["spec"]["containers"][0]
    if "--storage.tsdb.retention.time=7d" not in prom["args"]:
        errors.append("monitoring: Prometheus must keep 7 days (--storage.tsdb.retention.time=7d)")


def check_render(errors: list[str]) -> None:
    cluster = "tier-test"
    url = "https://abcdefghij.lambda-url.us-east-1.on.aws/alertmanager"
    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run(["bash", str(RENDER), cluster, url, str(AM), out],
                             capture_output=True, text=True, check=False)
        if run.returncode != 0:
            errors.append(f"render-node-config.sh failed: {run.stderr.strip()}")
            return
        for rel in ("prometheus.yml", "rules/autoscaler.rules.yml", "alertmanager.yml"):
            src = (AM / rel).read_text()
            want = src.replace("${K3SA_CLUSTER_ID}", cluster).replace("${K3SA_WEBHOOK_URL}", url)
            got = (Path(out) / rel).read_text()
            if got.rstrip("\n") != want.rstrip("\n"):
                errors.append(f"render: {rel} is not the literal replacement of its two placeholders")
        prom = yaml.safe_load((Path(out) / "prometheus.yml").read_text())
        if prom.get("global", {}).get("external_labels", {}).get("cluster") != cluster:
            errors.append("render: prometheus.yml's external label cluster is not the cluster id")
        if prom.get("global", {}).get("scrape_interval") != "15s":
            errors.append("render: prometheus.yml must scrape every 15s")
        am = yaml.safe_load((Path(out) / "alertmanager.yml").read_text())
        urls = [w.get("url") for r in am.get("receivers", []) for w in r.get("webhook_configs", [])]
        if urls != [url]:
            errors.append(f"render: alertmanager.yml's webhook URLs are {urls}, expected [{url}]")
    bad = subprocess.run(["bash", str(RENDER), "Bad_Id", url, str(AM), "/nonexistent"],
                         capture_output=True, text=True, check=False)
    if bad.returncode == 0:
        errors.append("render: an invalid cluster id was accepted")


def main() -> int:
    errors: list[str] = []
    check_rbac(errors)
    check_monitoring(errors)
    if all((AM / f).exists() for f in ("prometheus.yml", "alertmanager.yml", "rules/autoscaler.rules.yml")):
        check_render(errors)
    else:
        errors.append("alertmanager/prometheus.yml, alertmanager.yml or rules/autoscaler.rules.yml missing")
    for e in errors:
        print(f"check_k8s: {e}", file=sys.stderr)
    if errors:
        return 1
    print("check_k8s: RBAC exact, monitoring pinned to the master with pinned images, rendering literal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
