#!/usr/bin/env bash
# Infrastructure tier: the SAM template, the IAM policies and every shell script, checked by
# the real tools, offline.
#   cfn-lint infra/template.yaml            no error, no warning
#   sam validate --lint                     (SAM's own translation + cfn-lint)
#   checkov (CloudFormation)                no failed check; each skip is justified in the template
#   ShellCheck                              every *.sh under infra/ and tests/
#   check_iam.py                            template == infra/iam/*.json; parliament clean
#   check_template.py                       the template against docs/CONTRACTS.md
#   embed_scripts.py                        user data in the template == infra/scripts/*.sh
#   test_user_data.py                       worker and master user data run against stand-ins
#                                           for IMDS, SSM, S3, systemd and the K3s installer
#   check_k8s.py, kubernetes-validate       RBAC exactly as needed, monitoring pinned to the
#                                           master, rendering of alertmanager/ files, K3s
#                                           add-ons preferring the master; schemas
#   publish-node-config.sh --stage          the master's configuration bundle verifies
#   check_monitoring.py                     alarms and dashboard against the code's metrics,
#                                           the runbooks and docs/OBSERVABILITY.md
#   check_loadgen.py                        infra/k8s/loadgen.yaml (docs/TESTING.md)
# Prints one line per tool, quiet otherwise; exits non-zero if any fails. Installs what it
# needs (shellcheck from Debian, three pinned venvs from PyPI) and makes no other network
# call: the tools run with a proxy that refuses every connection.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=tests/lib/setup.sh
source tests/lib/setup.sh

ensure_apt shellcheck
iac_bin=$(ensure_venv iac tests/iac/requirements.txt)
checkov_bin=$(ensure_venv iac-checkov tests/iac/requirements-checkov.txt)
policy_bin=$(ensure_venv iac-policy tests/iac/requirements-policy.txt)

# Offline and anonymous: dummy credentials (never real ones), no telemetry, no version or
# policy downloads, and a proxy on a closed port so any other call fails at once.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export SAM_CLI_TELEMETRY=0 BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true
export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=
export https_proxy=$HTTPS_PROXY http_proxy=$HTTP_PROXY no_proxy=
# SAM keeps its version-check timestamp here instead of ~/.aws-sam (checked weekly otherwise).
export __SAM_CLI_APP_DIR="$K3SA_CACHE/sam-cli"
mkdir -p "$__SAM_CLI_APP_DIR"
printf '{"lastVersionCheck": 4102444800.0, "telemetryEnabled": false}\n' >"$__SAM_CLI_APP_DIR/metadata.json"

template=infra/template.yaml
passed=0
failed=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# step NAME CMD...: runs CMD quietly; on failure shows its output.
step() {
  local name=$1
  shift
  if "$@" >"$out/$name.log" 2>&1; then
    passed=$((passed + 1))
    printf 'iac: %-22s ok   %s\n' "$name" "$(summary "$name")"
  else
    failed=$((failed + 1))
    printf 'iac: %-22s FAILED\n' "$name"
    sed 's/^/    /' "$out/$name.log" >&2
  fi
}

summary() {
  case "$1" in
    cfn-lint) echo "(0 errors, 0 warnings; cfn-lint $("$iac_bin/cfn-lint" --version | awk '{print $2}'))" ;;
    sam-validate) echo "($(tail -n 1 "$out/sam-validate.log"))" ;;
    checkov) grep -m1 -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$out/checkov.log" | sed 's/^/(/; s/$/)/' ;;
    shellcheck) echo "(${#scripts[@]} scripts)" ;;
    kubernetes-validate) echo "(strict, Kubernetes $k8s_version schemas)" ;;
    user-data-scripts) echo "($(grep -o 'Ran [0-9]* tests' "$out/user-data-scripts.log"): worker and master user data against stand-ins)" ;;
    *) tail -n 1 "$out/$1.log" | sed 's/^[a-z0-9_]*: //; s/^/(/; s/$/)/' ;;
  esac
}

# cfn-lint exits with a bit mask: 2 errors, 4 warnings, 8 informational. Fail on 2 and 4.
cfn_lint() {
  local rc=0
  "$iac_bin/cfn-lint" --format parseable "$template" || rc=$?
  [ $((rc & 6)) -eq 0 ]
}

checkov_run() {
  "$checkov_bin/checkov" -f "$template" --framework cloudformation --compact --quiet \
    --skip-download --output cli
}

stage_node_config() {
  local dir="$out/node-config"
  bash infra/publish-node-config.sh --stage "$dir"
  # What the master does with the bundle (master-user-data.sh): verify every file.
  (cd "$dir" && sha256sum --quiet --strict -c manifest.sha256)
  echo "bundle of $(wc -l <"$dir/manifest.sha256") files verifies"
}

# The Kubernetes minor of the template's default K3s release, for the manifests' schemas.
k8s_version=$(sed -n 's/^ *Default: v\([0-9]*\.[0-9]*\)\.[0-9]*+k3s[0-9]*$/\1.0/p' "$template")
mapfile -t scripts < <(find infra tests -name '*.sh' -not -path '*/node_modules/*' | sort)

step cfn-lint cfn_lint
step sam-validate "$iac_bin/sam" validate --lint -t "$template"
step checkov checkov_run
step shellcheck shellcheck -x "${scripts[@]}"
step check-iam "$policy_bin/python" tests/iac/check_iam.py
step check-template "$policy_bin/python" tests/iac/check_template.py
step embed-scripts "$iac_bin/python" tests/iac/embed_scripts.py
step user-data-scripts python3 tests/iac/test_user_data.py
step check-k8s "$policy_bin/python" tests/iac/check_k8s.py
# Not listed here: k8s/addon-affinity.yaml is a patch fragment, not a manifest (check_k8s.py
# validates it merged into a Deployment, with this venv's kubernetes-validate --strict), and
# k8s/addons.yaml is a HelmChartConfig, a K3s CRD kind kubernetes-validate has no schema for
# (it would only warn and pass; check_k8s.py checks that file and validates its affinity).
step kubernetes-validate "$policy_bin/kubernetes-validate" --strict --quiet \
  -k "$k8s_version" infra/k8s/rbac.yaml infra/k8s/monitoring.yaml
step node-config-bundle stage_node_config
step check-monitoring "$policy_bin/python" tests/iac/check_monitoring.py
step check-loadgen "$policy_bin/python" tests/iac/check_loadgen.py

echo "iac: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
