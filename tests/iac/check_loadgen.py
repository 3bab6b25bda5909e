#!/usr/bin/env python3
"""infra/k8s/loadgen.yaml, the load generator of docs/TESTING.md, checked.

- it is never part of what the master installs (the node-config bundle and the bootstrap do
  not name it), and applying it starts no load (0 replicas);
- the load is arithmetic: every container's CPU request equals its CPU limit, memory is
  limited, the image is pinned to a version tag, and docs/TESTING.md states the same request;
- it runs on the autoscaler's workers only and never tolerates the master's taint;
- it passes the Pod Security "restricted" profile its namespace enforces (non-root, no
  privilege escalation, all capabilities dropped, RuntimeDefault seccomp);
- its PodDisruptionBudget selects exactly the Deployment's pods;
- kubernetes-validate --strict accepts it for the Kubernetes minor of the template's K3s release.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "infra" / "k8s" / "loadgen.yaml"
TESTING = ROOT / "docs" / "TESTING.md"
NOT_INSTALLED_BY = [ROOT / "infra" / "publish-node-config.sh", ROOT / "infra" / "scripts" / "master-bootstrap.sh"]
MASTER_TAINT = "node-role.kubernetes.io/control-plane"


def k8s_version() -> str:
    text = (ROOT / "infra" / "template.yaml").read_text()
    m = re.search(r"Default: v(\d+\.\d+)\.\d+\+k3s\d+", text)
    if not m:
        raise SystemExit("check_loadgen: no K3s release in infra/template.yaml")
    return f"{m.group(1)}.0"


def check(errors: list[str]) -> list[dict]:
    items = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    kinds = sorted(d["kind"] for d in items)
    if kinds != ["Deployment", "Namespace", "PodDisruptionBudget"]:
        errors.append(f"unexpected objects {kinds}")
        return items
    for path in NOT_INSTALLED_BY:
        if "loadgen" in path.read_text():
            errors.append(f"{path.relative_to(ROOT)} names the load generator: it must never be installed automatically")

    ns = next(d for d in items if d["kind"] == "Namespace")
    if ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "restricted":
        errors.append("the namespace must enforce the restricted Pod Security profile")
    deploy = next(d for d in items if d["kind"] == "Deployment")
    if deploy["metadata"].get("namespace") != ns["metadata"]["name"]:
        errors.append("the Deployment must be in the loadgen namespace")
    if deploy["spec"].get("replicas") != 0:
        errors.append("the Deployment must start with 0 replicas (applying it must create no load)")
    pod = deploy["spec"]["template"]["spec"]
    if pod.get("nodeSelector") != {"k3s-autoscaler/managed": "true"}:
        errors.append("the pods must select the autoscaler's workers (k3s-autoscaler/managed=true)")
    if any(t.get("key") in (MASTER_TAINT, None) for t in pod.get("tolerations", [])):
        errors.append("the pods must not tolerate the master's taint")
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errors.append("pod securityContext: runAsNonRoot and seccompProfile RuntimeDefault are required (restricted)")
    requests = set()
    for c in pod["containers"]:
        image = c["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        if not re.fullmatch(r"v?\d+(\.\d+)+", tag) and "@sha256:" not in image:
            errors.append(f"image {image} is not pinned to a version tag or digest")
        res = c.get("resources", {})
        cpu_req, cpu_lim = res.get("requests", {}).get("cpu"), res.get("limits", {}).get("cpu")
        if not cpu_req or cpu_req != cpu_lim:
            errors.append(f"container {c['name']}: the CPU request must equal the CPU limit (predictable load)")
        if not res.get("limits", {}).get("memory"):
            errors.append(f"container {c['name']}: memory must be limited")
        requests.add(cpu_req)
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("capabilities", {}).get("drop") != ["ALL"]:
            errors.append(f"container {c['name']}: no privilege escalation and drop ALL capabilities (restricted)")
    doc = TESTING.read_text() if TESTING.exists() else ""
    if "infra/k8s/loadgen.yaml" not in doc:
        errors.append("docs/TESTING.md does not describe infra/k8s/loadgen.yaml")
    for r in requests:
        if r and f"`{r}`" not in doc:
            errors.append(f"docs/TESTING.md does not state the replica's CPU ({r}) its load arithmetic uses")

    pdb = next(d for d in items if d["kind"] == "PodDisruptionBudget")
    if pdb["spec"]["selector"] != deploy["spec"]["selector"] or pdb["metadata"].get("namespace") != ns["metadata"]["name"]:
        errors.append("the PodDisruptionBudget must select exactly the Deployment's pods, in its namespace")
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in deploy["spec"]["selector"]["matchLabels"].items()):
        errors.append("the Deployment's selector does not match its pod labels")
    return items


def main() -> int:
    errors: list[str] = []
    items = check(errors)
    version = k8s_version()
    for d in items:
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{d['kind']}/{d['metadata']['name']}: {e.message}")
        except Exception as e:  # noqa: BLE001 - the library's other refusals (unknown version, kind)
            errors.append(f"{d['kind']}/{d['metadata']['name']}: {e}")
    for e in errors:
        print(f"check_loadgen: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_loadgen: {len(items)} objects valid (strict, Kubernetes {version}); pinned, 0 replicas, "
          "request = limit, restricted, never installed by the bootstrap")
    return 0


if __name__ == "__main__":
    sys.exit(main())
