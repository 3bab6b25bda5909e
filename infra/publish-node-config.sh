#!/usr/bin/env bash
# Publishes the master's node configuration to the stack's bucket, under node-config/:
#   scripts/master-bootstrap.sh              infra/scripts/master-bootstrap.sh
#   scripts/render-node-config.sh            infra/scripts/render-node-config.sh
#   k8s/rbac.yaml, k8s/monitoring.yaml,      infra/k8s/
#   k8s/addons.yaml, k8s/addon-affinity.yaml
#   alertmanager/prometheus.yml              alertmanager/prometheus.yml
#   alertmanager/rules/autoscaler.rules.yml  alertmanager/rules/autoscaler.rules.yml
#   alertmanager/alertmanager.yml            alertmanager/alertmanager.yml
#   manifest.sha256                          sha256 of each, uploaded last
# The master waits for manifest.sha256 on first boot and checks every file against it.
#
#   infra/publish-node-config.sh --stack NAME [--apply]
#       upload to the stack's NodeConfigBucketName; --apply then runs k3sa-master-refresh on
#       the master through SSM Run Command, so the new configuration takes effect
#   infra/publish-node-config.sh --stage DIR
#       only lay the files and the manifest out in DIR (no AWS call; used by the tests)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=node-config

usage() {
  sed -n '2,17p' "$0" >&2
  exit 2
}

STACK="" STAGE="" APPLY=false
while [ $# -gt 0 ]; do
  case "$1" in
    --stack)
      STACK=${2:?}
      shift 2
      ;;
    --stage)
      STAGE=${2:?}
      shift 2
      ;;
    --apply)
      APPLY=true
      shift
      ;;
    *) usage ;;
  esac
done
[ -n "$STACK" ] || [ -n "$STAGE" ] || usage

# destination (in the bucket, under node-config/) -> source (in the repository)
declare -A FILES=(
  [scripts/master-bootstrap.sh]=infra/scripts/master-bootstrap.sh
  [scripts/render-node-config.sh]=infra/scripts/render-node-config.sh
  [k8s/rbac.yaml]=infra/k8s/rbac.yaml
  [k8s/monitoring.yaml]=infra/k8s/monitoring.yaml
  [k8s/addons.yaml]=infra/k8s/addons.yaml
  [k8s/addon-affinity.yaml]=infra/k8s/addon-affinity.yaml
  [alertmanager/prometheus.yml]=alertmanager/prometheus.yml
  [alertmanager/rules/autoscaler.rules.yml]=alertmanager/rules/autoscaler.rules.yml
  [alertmanager/alertmanager.yml]=alertmanager/alertmanager.yml
)

DIR=${STAGE:-$(mktemp -d)}
[ -n "$STAGE" ] || trap 'rm -rf "$DIR"' EXIT
mkdir -p "$DIR"
: >"$DIR/manifest.sha256"
for dest in $(printf '%s\n' "${!FILES[@]}" | sort); do
  src="$ROOT/${FILES[$dest]}"
  if [ ! -s "$src" ]; then
    echo "missing ${FILES[$dest]}" >&2
    exit 1
  fi
  mkdir -p "$DIR/$(dirname "$dest")"
  cp "$src" "$DIR/$dest"
  (cd "$DIR" && sha256sum "$dest") >>"$DIR/manifest.sha256"
done

if [ -n "$STAGE" ]; then
  echo "staged ${#FILES[@]} files and manifest.sha256 in $DIR"
  exit 0
fi

output() {
  aws cloudformation describe-stacks --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
BUCKET=$(output NodeConfigBucketName)
if [ -z "$BUCKET" ] || [ "$BUCKET" = None ]; then
  echo "stack $STACK has no NodeConfigBucketName output" >&2
  exit 1
fi

# The manifest goes last: the master only starts once it sees it.
while read -r _ dest; do
  aws s3 cp --only-show-errors "$DIR/$dest" "s3://$BUCKET/$PREFIX/$dest"
done <"$DIR/manifest.sha256"
aws s3 cp --only-show-errors "$DIR/manifest.sha256" "s3://$BUCKET/$PREFIX/manifest.sha256"
echo "published ${#FILES[@]} files to s3://$BUCKET/$PREFIX/"

if $APPLY; then
  MASTER=$(output MasterInstanceId)
  COMMAND=$(aws ssm send-command --instance-ids "$MASTER" --document-name AWS-RunShellScript \
    --comment "k3s-autoscaler: apply node configuration" \
    --parameters 'commands=["/usr/local/sbin/k3sa-master-refresh"]' \
    --query Command.CommandId --output text)
  echo "applying on $MASTER (SSM command $COMMAND):"
  echo "  aws ssm get-command-invocation --command-id $COMMAND --instance-id $MASTER"
fi
