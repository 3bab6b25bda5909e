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
   the webhook URL where Prometheus and Alertmanager read them, nothing else touched;
4. K3s's packaged add-ons prefer the master (so none keeps a worker from being scaled down):
   infra/k8s/addon-affinity.yaml is a Deployment strategic-merge fragment holding exactly one
   preferred node affinity (weight 100) for the label K3s puts on servers and the bootstrap
   never removes, nothing required, no nodeSelector, no tolerations; merged into a K3s-like
   add-on Deployment it passes kubernetes-validate --strict, changes nothing but affinity and
   is idempotent; infra/k8s/addons.yaml gives traefik's chart the same affinity and nothing
   else; master-bootstrap.sh's step 6, run against a kubectl stand-in, installs addons.yaml
   and patches exactly coredns, metrics-server and local-path-provisioner (those that exist)
   with that file, through retry, and fails rather than skip on an API error;
   publish-node-config.sh bundles both files.
(The other manifests' schema is checked separately, by kubernetes-validate --strict;
addons.yaml cannot be: HelmChartConfig is a K3s CRD kind, with no schema in kubernetes-validate.)
"""

from __future__ import annotations

import copy
import re
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
BOOTSTRAP = ROOT / "infra" / "scripts" / "master-bootstrap.sh"
PUBLISH = ROOT / "infra" / "publish-node-config.sh"
TEMPLATE = ROOT / "infra" / "template.yaml"
ADDON_DEPLOYMENTS = ["coredns", "metrics-server", "local-path-provisioner"]
# K3s labels every server node-role.kubernetes.io/control-plane="true" itself (and keeps it
# "true": its server sets it again at start when absent or different), the same label the
# monitoring stack's nodeSelector uses.
SERVER_LABEL = (TAINT, "true")
PREFER_MASTER = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
    {"weight": 100, "preference": {"matchExpressions": [
        {"key": SERVER_LABEL[0], "operator": "In", "values": [SERVER_LABEL[1]]}]}}]}}

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


def strategic_merge(base: dict, patch: dict) -> dict:
    """A strategic merge of a patch made of maps and of lists without a merge key (the only
    lists check_addon_patch lets through): maps merge, everything else replaces."""
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = strategic_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# A Deployment shaped like K3s's add-ons (kube-system, critical priority, K3s's tolerations,
# a nodeSelector of its own), without any affinity, as in K3s's manifests.
ADDON_BASE = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
    "spec": {
        "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
        "template": {
            "metadata": {"labels": {"k8s-app": "kube-dns"}},
            "spec": {
                "priorityClassName": "system-cluster-critical",
                "tolerations": [
                    {"key": "CriticalAddonsOnly", "operator": "Exists"},
                    {"key": TAINT, "operator": "Exists", "effect": "NoSchedule"},
                    {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
                ],
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "containers": [{"name": "coredns", "image": "registry.example/coredns:1.0.0"}],
            },
        },
    },
}


def k8s_version() -> str:
    """The Kubernetes minor of the template's default K3s release (as tests/tiers/iac.sh)."""
    m = re.search(r"^ *Default: v(\d+\.\d+)\.\d+\+k3s\d+$", TEMPLATE.read_text(), re.M)
    return f"{m.group(1)}.0" if m else ""


def kubernetes_validate(errors: list[str], what: str, manifest: dict) -> None:
    """kubernetes-validate --strict (the binary of this venv) on one manifest."""
    binary = Path(sys.executable).parent / "kubernetes-validate"
    version = k8s_version()
    if not binary.exists() or not version:
        errors.append(f"{what}: kubernetes-validate ({binary}) or the template's K3s version missing")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(manifest, f)
        f.flush()
        run = subprocess.run([str(binary), "--strict", "--quiet", "-k", version, f.name],
                             capture_output=True, text=True, check=False)
    if run.returncode != 0 or run.stdout.strip() or run.stderr.strip():
        errors.append(f"{what}: kubernetes-validate --strict: {(run.stdout + run.stderr).strip()}")


def check_addon_patch(errors: list[str]) -> dict | None:
    """infra/k8s/addon-affinity.yaml; returns its affinity (for traefik's to equal)."""
    items = docs(K8S / "addon-affinity.yaml")
    if len(items) != 1:
        errors.append(f"addon-affinity: expected one document, got {len(items)}")
        return None
    patch = items[0]
    if patch != {"spec": {"template": {"spec": {"affinity": PREFER_MASTER}}}}:
        errors.append("addon-affinity: must be exactly spec.template.spec.affinity with one preferred "
                      f"node affinity (weight 100) for {TAINT} In [\"true\"]: {patch}")
    pod = patch.get("spec", {}).get("template", {}).get("spec", {}) if isinstance(patch, dict) else {}
    text = yaml.safe_dump(patch)
    for banned in ("requiredDuringScheduling", "nodeSelector", "tolerations", "$patch", "nodeName"):
        if banned in text:
            errors.append(f"addon-affinity: contains {banned}: only a preferred affinity may be patched")
    affinity = pod.get("affinity") if isinstance(pod, dict) else None
    preferred = (affinity or {}).get("nodeAffinity", {}).get("preferredDuringSchedulingIgnoredDuringExecution", [])
    terms = [e for t in preferred for e in t.get("preference", {}).get("matchExpressions", [])]
    labels = {(e.get("key"), tuple(e.get("values", []))) for e in terms}
    if labels != {(SERVER_LABEL[0], (SERVER_LABEL[1],))}:
        errors.append(f"addon-affinity: must prefer the label K3s puts on servers, {SERVER_LABEL}; got {labels}")

    merged = strategic_merge(ADDON_BASE, patch)
    want = copy.deepcopy(ADDON_BASE)
    want["spec"]["template"]["spec"]["affinity"] = PREFER_MASTER
    if merged != want:
        errors.append("addon-affinity: merged into an add-on Deployment it changes more than its affinity")
    if strategic_merge(merged, patch) != merged:
        errors.append("addon-affinity: not idempotent (a second patch changes the Deployment)")
    kubernetes_validate(errors, "addon-affinity merged into a Deployment", merged)
    return affinity


def check_server_label_kept(errors: list[str]) -> None:
    """The bootstrap neither removes nor overrides the server label the add-ons prefer."""
    text = BOOTSTRAP.read_text()
    key = re.escape(SERVER_LABEL[0])
    if re.search(rf"\bkubectl\b[^\n]*\blabel\b[^\n]*{key}", text):
        errors.append(f"master-bootstrap.sh relabels {SERVER_LABEL[0]} (kubectl label)")
    config = re.search(r"cat >/etc/rancher/k3s/config.yaml <<EOF\n(.*?)\nEOF\n", text, re.S)
    if not config:
        errors.append("master-bootstrap.sh: the K3s config.yaml heredoc was not found")
        return
    conf = yaml.safe_load(config.group(1).replace("$", ""))
    for label in conf.get("node-label", []) + conf.get("kubelet-arg", []):
        if SERVER_LABEL[0] in label:
            errors.append(f"master-bootstrap.sh: K3s config sets {label!r}; the add-ons prefer {SERVER_LABEL}")
    if any(SERVER_LABEL[0] in str(v) for k, v in conf.items() if k not in ("node-label", "node-taint", "kubelet-arg")):
        errors.append(f"master-bootstrap.sh: K3s config mentions {SERVER_LABEL[0]} outside node-taint")


def check_traefik_config(errors: list[str], affinity: dict | None) -> None:
    items = docs(K8S / "addons.yaml")
    if [(d.get("apiVersion"), d.get("kind")) for d in items] != [("helm.cattle.io/v1", "HelmChartConfig")]:
        errors.append("addons.yaml: must hold exactly one helm.cattle.io/v1 HelmChartConfig")
        return
    hcc = items[0]
    if hcc["metadata"] != {"name": "traefik", "namespace": "kube-system"}:
        errors.append(f"addons.yaml: the HelmChartConfig must be kube-system/traefik: {hcc['metadata']}")
    if list(hcc.get("spec", {})) != ["valuesContent"]:
        errors.append("addons.yaml: spec must hold valuesContent only")
        return
    values = yaml.safe_load(hcc["spec"]["valuesContent"])
    if not isinstance(values, dict) or list(values) != ["affinity"]:
        errors.append(f"addons.yaml: traefik's values must set affinity only: {values}")
        return
    if affinity is None or values["affinity"] != affinity:
        errors.append("addons.yaml: traefik's affinity differs from infra/k8s/addon-affinity.yaml's")
    # The chart puts its top-level affinity in the pod spec: the same schema check.
    deployment = copy.deepcopy(ADDON_BASE)
    deployment["spec"]["template"]["spec"]["affinity"] = values["affinity"]
    kubernetes_validate(errors, "addons.yaml's affinity in a Deployment", deployment)


def bootstrap_step(number: int) -> str:
    """The text of one numbered step of master-bootstrap.sh (its `# --- N.` block)."""
    text = BOOTSTRAP.read_text()
    m = re.search(rf"^# --- {number}\. .*?(?=^# --- |\Z)", text, re.M | re.S)
    return m.group(0) if m else ""


# Stand-ins for the bootstrap's retry, log and kubectl: kubectl records each call (and whether
# it ran under retry), knows the deployments in $PRESENT, and fails every call if $API_DOWN.
STUBS = r"""set -euo pipefail
log() { printf '%s\n' "$*" >>"$STUB/log"; }
retry() { shift; IN_RETRY=1 "$@"; }
kubectl() {
  printf '%s %s\n' "${IN_RETRY:-0}" "$*" >>"$STUB/calls"
  [ -z "${API_DOWN:-}" ] || return 1
  case "$*" in
    "-n kube-system get deployment "*)
      case " $PRESENT " in *" $5 "*) echo "deployment.apps/$5" ;; esac ;;
    "-n kube-system patch deployment "*) echo "deployment.apps/$5 patched" ;;
    *) echo "unexpected kubectl $*" >&2; return 1 ;;
  esac
}
"""


def check_bootstrap_addons(errors: list[str]) -> None:
    step = bootstrap_step(6)
    if "addon-affinity.yaml" not in step:
        errors.append("master-bootstrap.sh: step 6 (K3s add-ons prefer the master) not found")
        return
    text = BOOTSTRAP.read_text()
    if len(re.findall(r"\bpatch deployment\b", text)) != 1:
        errors.append("master-bootstrap.sh: expected exactly one `patch deployment`, in step 6")
    header = text.split("\nset -euo pipefail", 1)[0]
    if not re.search(r"^# 6\. .*add-ons", header, re.M) or "addons.yaml" not in header:
        errors.append("master-bootstrap.sh: the header's numbered list does not describe step 6")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        config = base / "node-config"
        stage = subprocess.run(["bash", str(PUBLISH), "--stage", str(config)],
                               capture_output=True, text=True, check=False)
        if stage.returncode != 0:
            errors.append(f"publish-node-config.sh --stage failed: {stage.stderr.strip()}")
            return
        patch_args = ["--type", "strategic", "--patch-file", f"{config}/k8s/addon-affinity.yaml"]

        def run(name: str, present: list[str], api_down: bool = False) -> tuple[int, list[str], str]:
            stub = base / name.removesuffix("-again")
            manifests = stub / "manifests"
            manifests.mkdir(parents=True, exist_ok=True)  # "-again": a second run over the first
            for record in ("calls", "log"):
                (stub / record).unlink(missing_ok=True)
            env = {"PATH": "/usr/bin:/bin", "STUB": str(stub), "PRESENT": " ".join(present),
                   "K3SA_CONFIG_DIR": str(config), "MANIFESTS": str(manifests)}
            if api_down:
                env["API_DOWN"] = "1"
            # The step reads $K3SA_CONFIG_DIR and $MANIFESTS as the bootstrap sets them.
            script = STUBS + 'K3SA_CONFIG_DIR=$K3SA_CONFIG_DIR MANIFESTS=$MANIFESTS\n' + step
            done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False)
            calls = (stub / "calls").read_text().splitlines() if (stub / "calls").exists() else []
            installed = manifests / "k3s-autoscaler-addons.yaml"
            if done.returncode == 0 and (not installed.exists() or
                                         installed.read_text() != (K8S / "addons.yaml").read_text()):
                errors.append(f"bootstrap step 6 ({name}): addons.yaml not installed as "
                              "$MANIFESTS/k3s-autoscaler-addons.yaml")
            log = (stub / "log").read_text() if (stub / "log").exists() else ""
            return done.returncode, calls, log + done.stderr

        def expected(present: list[str]) -> list[str]:
            calls = []
            for d in ADDON_DEPLOYMENTS:
                calls.append(f"1 -n kube-system get deployment {d} --ignore-not-found -o name")
                if d in present:
                    calls.append(" ".join(["1 -n kube-system patch deployment", d, *patch_args]))
            return calls

        for name, present in (("all", ADDON_DEPLOYMENTS), ("coredns-only", ["coredns"]),
                              ("none", []), ("all-again", ADDON_DEPLOYMENTS)):
            rc, calls, log = run(name, present)
            if rc != 0:
                errors.append(f"bootstrap step 6 ({name}) failed: {log.strip()}")
            elif calls != expected(present):
                errors.append(f"bootstrap step 6 ({name}): kubectl calls {calls}, expected {expected(present)}")
            elif any(f"kube-system/{d}" not in log for d in ADDON_DEPLOYMENTS):
                errors.append(f"bootstrap step 6 ({name}): not every add-on is logged: {log!r}")
        rc, calls, _ = run("api-down", ADDON_DEPLOYMENTS, api_down=True)
        if rc == 0 or any(" patch " in c for c in calls):
            errors.append("bootstrap step 6: an API error was taken for a disabled add-on (step succeeded)")


def check_bundle(errors: list[str]) -> None:
    """publish-node-config.sh lays both add-on files out, listed in its manifest and header."""
    text = PUBLISH.read_text()
    header = text.split("\nset -euo pipefail", 1)[0]
    with tempfile.TemporaryDirectory() as tmp:
        stage = subprocess.run(["bash", str(PUBLISH), "--stage", tmp], capture_output=True, text=True, check=False)
        if stage.returncode != 0:
            errors.append(f"publish-node-config.sh --stage failed: {stage.stderr.strip()}")
            return
        listed = [line.split()[-1] for line in (Path(tmp) / "manifest.sha256").read_text().splitlines()]
        for name in ("addons.yaml", "addon-affinity.yaml"):
            dest = f"k8s/{name}"
            if dest not in listed or (Path(tmp) / dest).read_text() != (K8S / name).read_text():
                errors.append(f"publish-node-config.sh: {dest} is not bundled (FILES) as infra/k8s/{name}")
            if dest not in header:
                errors.append(f"publish-node-config.sh: the header does not list {dest}")


def main() -> int:
    errors: list[str] = []
    check_rbac(errors)
    check_monitoring(errors)
    check_traefik_config(errors, check_addon_patch(errors))
    check_server_label_kept(errors)
    check_bootstrap_addons(errors)
    check_bundle(errors)
    if all((AM / f).exists() for f in ("prometheus.yml", "alertmanager.yml", "rules/autoscaler.rules.yml")):
        check_render(errors)
    else:
        errors.append("alertmanager/prometheus.yml, alertmanager.yml or rules/autoscaler.rules.yml missing")
    for e in errors:
        print(f"check_k8s: {e}", file=sys.stderr)
    if errors:
        return 1
    print("check_k8s: RBAC exact, monitoring pinned to the master with pinned images, rendering literal, "
          f"add-ons prefer the master ({len(ADDON_DEPLOYMENTS)} Deployments patched by the bootstrap, traefik "
          "by HelmChartConfig; both bundled)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
