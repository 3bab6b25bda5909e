#!/usr/bin/env bash
# Test tier: the alerting configuration, checked with the real tools.
#   promtool check config  alertmanager/prometheus.yml (and the rule files it loads)
#   promtool check rules   alertmanager/rules/*.yml
#   promtool test rules    alertmanager/tests/*.yml   (every alert boundary)
#   amtool check-config    alertmanager/alertmanager.yml
# plus the contracts between these files and the manifests that install them.
# One summary line per check; exits non-zero if any fails.
#
# Debian's prometheus package (what CI installs) is built without Kubernetes service discovery,
# which the cluster's upstream image has. So the Kubernetes SD blocks are checked structurally
# here (roles, selectors, namespaces, the __meta_kubernetes_* labels each role provides) and
# replaced by a static target before promtool checks everything else. The in-cluster
# ServiceAccount files and the placeholders are pointed at temporary stand-ins, as the master
# bootstrap would substitute them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/lib/setup.sh
source "$ROOT/tests/lib/setup.sh"

ensure_apt prometheus prometheus-alertmanager python3-yaml
PY=/usr/bin/python3 # Debian's, with python3-yaml

AM_DIR=$ROOT/alertmanager
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
# check NAME CMD...: runs CMD, prints one line, shows CMD's output only on failure.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    printf 'PASS  %s%s\n' "$name" "${SUMMARY:+ ($SUMMARY)}"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n' "$name"
    printf '%s\n' "$out" | sed 's/^/      /'
  fi
  SUMMARY=
}
SUMMARY=
fail_with() {
  printf '%s\n' "$1"
  return 1
}

# --- prometheus.yml -------------------------------------------------------------------------------
# prepare_prometheus: writes $WORK/prom/prometheus.yml (Kubernetes SD checked and replaced,
# placeholders and file paths substituted) and copies the rules beside it.
prepare_prometheus() {
  mkdir -p "$WORK/prom/secrets"
  cp -r "$AM_DIR/rules" "$WORK/prom/rules"
  "$PY" - "$AM_DIR/prometheus.yml" "$WORK/prom" <<'PY'
import os, sys, yaml

src, out = sys.argv[1], sys.argv[2]
text = open(src).read()
# As infra/scripts/master-bootstrap.sh does: a literal replacement, nothing else expanded.
cfg = yaml.safe_load(text.replace("${K3SA_CLUSTER_ID}", "tier-test"))
errors = []

ROLES = {  # role -> (roles its selectors may name, __meta_kubernetes_ label prefixes it provides)
    "node": ({"node"}, ("node_",)),
    "pod": ({"pod"}, ("namespace", "pod_")),
    "service": ({"service"}, ("namespace", "service_")),
    "endpoints": ({"endpoints", "pod", "service"}, ("namespace", "endpoints_", "endpoint_", "service_", "pod_")),
    "endpointslice": ({"endpointslice", "pod", "service"}, ("namespace", "endpointslice_", "service_", "pod_")),
    "ingress": ({"ingress"}, ("namespace", "ingress_")),
}
SD_KEYS = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata"}

def check_sd(job, sd):
    role = sd.get("role")
    if role not in ROLES:
        errors.append(f"{job}: kubernetes_sd_configs role {role!r} is not one of {sorted(ROLES)}")
        return ()
    for key in set(sd) - SD_KEYS:
        errors.append(f"{job}: unknown kubernetes_sd_configs field {key!r}")
    ns = sd.get("namespaces", {})
    if set(ns) - {"names", "own_namespace"} or not all(isinstance(n, str) for n in ns.get("names", [])):
        errors.append(f"{job}: namespaces must be {{names: [string], own_namespace: bool}}")
    for sel in sd.get("selectors", []):
        if sel.get("role") not in ROLES[role][0]:
            errors.append(f"{job}: selector role {sel.get('role')!r} not allowed with role {role}")
        for key in set(sel) - {"role", "label", "field"}:
            errors.append(f"{job}: unknown selector field {key!r}")
    return ROLES[role][1]

def stand_in(path):
    # A temporary file for each in-cluster file the config names (ServiceAccount token, CA).
    name = os.path.join(out, "secrets", path.strip("/").replace("/", "_"))
    open(name, "w").close()
    return name

def rewrite_files(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("credentials_file", "bearer_token_file", "ca_file", "cert_file", "key_file"):
                node[k] = stand_in(v)
            else:
                rewrite_files(v)
    elif isinstance(node, list):
        for v in node:
            rewrite_files(v)

jobs = []
for sc in cfg.get("scrape_configs", []):
    job = sc["job_name"]
    jobs.append(job)
    sds = sc.pop("kubernetes_sd_configs", None)
    if sds is None:
        continue
    prefixes = set()
    for sd in sds:
        prefixes.update(check_sd(job, sd))
    for rc in sc.get("relabel_configs", []):
        for label in rc.get("source_labels", []):
            if label.startswith("__meta_kubernetes_"):
                rest = label[len("__meta_kubernetes_"):]
                if not any(rest.startswith(p) for p in prefixes):
                    errors.append(f"{job}: {label} is not provided by its Kubernetes SD role(s)")
    sc.setdefault("static_configs", []).append({"targets": ["127.0.0.1:9"]})
rewrite_files(cfg)

for want in ("node-exporter", "kube-state-metrics", "kubelet", "cadvisor", "kube-apiserver"):
    if want not in jobs:
        errors.append(f"missing scrape job {want}")
g = cfg.get("global", {})
if g.get("scrape_interval") != "15s" or g.get("evaluation_interval") != "15s":
    errors.append("global scrape_interval and evaluation_interval must be 15s")
if g.get("external_labels", {}).get("cluster") != "tier-test":
    errors.append("external label cluster must be the placeholder ${K3SA_CLUSTER_ID}")
# The rule groups' interval (rendered from the policy's signals.evaluation_interval) must match
# the scrape interval the CPU rate window is sized for.
rules_dir = os.path.join(out, "rules")
for f in sorted(os.listdir(rules_dir)):
    for grp in yaml.safe_load(open(os.path.join(rules_dir, f)))["groups"]:
        if grp.get("interval", g.get("evaluation_interval")) != g.get("scrape_interval"):
            errors.append(f"{f}: group {grp['name']} interval {grp.get('interval')} != scrape_interval")
if errors:
    sys.exit("\n".join(errors))
yaml.safe_dump(cfg, open(os.path.join(out, "prometheus.yml"), "w"), sort_keys=False)
print(f"{len(jobs)} jobs")
PY
}
if prepared=$(prepare_prometheus 2>&1); then
  SUMMARY="$prepared, Kubernetes SD checked structurally"
  check "prometheus.yml: structure, Kubernetes SD, intervals, placeholder" true
  SUMMARY="with $(find "$AM_DIR/rules" -name '*.yml' | wc -l) rule file(s)"
  check "promtool check config alertmanager/prometheus.yml" promtool check config "$WORK/prom/prometheus.yml"
else
  check "prometheus.yml: structure, Kubernetes SD, intervals, placeholder" fail_with "$prepared"
  check "promtool check config alertmanager/prometheus.yml (not run)" false
fi

# --- rules and their unit tests -------------------------------------------------------------------
rule_count() { promtool check rules "$@" | awk '/SUCCESS/ {n += $2} END {print n + 0}'; }
SUMMARY="$(rule_count "$AM_DIR"/rules/*.yml 2>/dev/null) rules"
check "promtool check rules alertmanager/rules/*.yml" promtool check rules "$AM_DIR"/rules/*.yml

test_files=("$AM_DIR"/tests/*.yml)
groups=$(cat "${test_files[@]}" | grep -c '^  - name:' || true)
SUMMARY="${#test_files[@]} files, $groups test groups"
# promtool resolves each test file's rule_files relative to the test file.
check "promtool test rules alertmanager/tests/*.yml" promtool test rules "${test_files[@]}"

# --- alertmanager.yml -----------------------------------------------------------------------------
prepare_alertmanager() {
  local text
  text=$(<"$AM_DIR/alertmanager.yml")
  # shellcheck disable=SC2016 # the placeholder is matched literally
  grep -qF "url: '\${K3SA_WEBHOOK_URL}'" <<<"$text" || {
    # shellcheck disable=SC2016
    echo 'alertmanager.yml: the webhook url must be the placeholder ${K3SA_WEBHOOK_URL}'
    return 1
  }
  # As the master bootstrap does; the token file need not exist for the check.
  # shellcheck disable=SC2016
  printf '%s\n' "${text//'${K3SA_WEBHOOK_URL}'/https://webhook.invalid/alertmanager}" >"$WORK/alertmanager.yml"
}
check "alertmanager.yml: webhook placeholder" prepare_alertmanager
check "amtool check-config alertmanager/alertmanager.yml" amtool check-config "$WORK/alertmanager.yml"
routes_ok() {
  local got
  for labels in "alertname=Watchdog action=heartbeat" "alertname=HighCPU action=scale_up" \
    "alertname=LowCPU action=scale_down" "alertname=Overprovisioned action=scale_down" \
    "alertname=ApiLatencyHigh action=observe"; do
    # shellcheck disable=SC2086 # one word per label
    got=$(amtool config routes test --config.file="$WORK/alertmanager.yml" cluster=tier-test $labels)
    [ "$got" = autoscaler ] || {
      echo "$labels routed to '$got', want autoscaler"
      return 1
    }
    # The scale-down alerts take the default route itself (repeat_interval 4m), no child route.
    if [[ $labels == *action=scale_down ]]; then
      # shellcheck disable=SC2086 # one word per label
      got=$(amtool config routes test --config.file="$WORK/alertmanager.yml" --tree cluster=tier-test $labels)
      grep -q '^└── default-route  receiver: autoscaler$' <<<"$got" || {
        printf '%s takes a child route, want the default route:\n%s\n' "$labels" "$got"
        return 1
      }
    fi
  done
}
check "amtool config routes test: every alert reaches the autoscaler receiver, scale-down ones by the default route" routes_ok

# --- the contracts with the manifests that install these files -------------------------------------
manifest_contracts() {
  local m=$ROOT/infra/k8s/monitoring.yaml bad=0
  if [ ! -f "$m" ]; then
    echo "$m missing"
    return 1
  fi
  if ! grep -q 'credentials_file: /etc/alertmanager/secrets/webhook-token' "$AM_DIR/alertmanager.yml" ||
    ! grep -q 'mountPath: /etc/alertmanager/secrets/webhook-token' "$m"; then
    echo "the webhook token path differs between alertmanager.yml and $m"
    bad=1
  fi
  if ! grep -q 'path: rules/autoscaler.rules.yml' "$m" || ! grep -q -- '- rules/\*.yml' "$AM_DIR/prometheus.yml"; then
    echo "the rule file mount in $m does not match rule_files in prometheus.yml"
    bad=1
  fi
  if ! grep -q -- '--storage.tsdb.retention.time=7d' "$m"; then
    echo "$m does not start Prometheus with --storage.tsdb.retention.time=7d"
    bad=1
  fi
  return "$bad"
}
check "monitoring manifest: token path, rule mount, 7d retention" manifest_contracts

printf 'alerting: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
