#!/usr/bin/env bash
# k3s-autoscaler master user data: fetch the node configuration from S3, then run
# master-bootstrap.sh from it.
#
# infra/template.yaml embeds this file verbatim (tests/iac/embed_scripts.py keeps the copy
# identical) after exports that CloudFormation fills in:
#   K3SA_CLUSTER_ID, K3SA_K3S_VERSION, K3SA_PARAMETER_PREFIX (/k3s-autoscaler/<cluster>),
#   K3SA_BUCKET, K3SA_CONFIG_PREFIX (node-config), K3SA_WEBHOOK_URL (the webhook's function URL)
#
# Why S3 and not everything inline: the master needs the Prometheus, rule and Alertmanager
# files that live in the repository's alertmanager/ folder and change on their own schedule,
# plus manifests far beyond the 16 KB user-data limit. infra/publish-node-config.sh uploads
# them with a sha256 manifest (uploaded last); this script waits for the manifest, checks
# every file against it and only then runs the bootstrap. The bucket is versioned, so every
# configuration the master ever ran is kept.
#
# It installs itself as /usr/local/sbin/k3sa-master-refresh: after publishing a new
# configuration, run that (SSM Run Command, see infra/README.md) to apply it; every step of
# the bootstrap is idempotent.
set -euo pipefail

# K3SA_ROOT prefixes every path written here; empty on a real master, set by
# tests/iac/test_user_data.py only.
ROOT_DIR=${K3SA_ROOT:-}
ENV_FILE=$ROOT_DIR/etc/k3s-autoscaler/master.env
SELF=$ROOT_DIR/usr/local/sbin/k3sa-master-refresh

exec > >(tee >(logger -t k3sa-master)) 2>&1
log() { printf '%s k3sa-master: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
trap 'log "FAILED at line $LINENO (exit $?)"' ERR

if [ -n "${K3SA_CLUSTER_ID:-}" ]; then
  # First boot: keep the template's values for later refreshes.
  install -d -m 0700 "$(dirname "$ENV_FILE")"
  umask 077
  {
    for var in K3SA_CLUSTER_ID K3SA_K3S_VERSION K3SA_PARAMETER_PREFIX K3SA_BUCKET \
      K3SA_CONFIG_PREFIX K3SA_WEBHOOK_URL; do
      printf '%s=%q\n' "$var" "${!var:?set by the template}"
    done
  } >"$ENV_FILE"
  umask 022
  if [ "$(readlink -f "$0")" != "$(readlink -f "$SELF")" ]; then
    install -D -m 0700 "$0" "$SELF"
  fi
else
  # shellcheck source=/dev/null
  . "$ENV_FILE"
fi
export K3SA_CLUSTER_ID K3SA_K3S_VERSION K3SA_PARAMETER_PREFIX K3SA_BUCKET K3SA_CONFIG_PREFIX K3SA_WEBHOOK_URL

retry() {
  local attempts=$1 n=1 delay=2
  shift
  until "$@"; do
    if [ "$n" -ge "$attempts" ]; then
      log "giving up after $n attempts: $1"
      return 1
    fi
    log "attempt $n of $attempts failed: $1; retrying in ${delay}s"
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
  done
}

IMDS=http://169.254.169.254/latest
imds_token() {
  curl -fsS --max-time 5 -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600'
}
IMDS_TOKEN=$(retry 10 imds_token)
AWS_REGION=$(retry 10 curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" \
  "$IMDS/meta-data/placement/region")
export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"

S3_BASE="s3://$K3SA_BUCKET/$K3SA_CONFIG_PREFIX"
mkdir -p "$ROOT_DIR/var/tmp"
WORK=$(mktemp -d "$ROOT_DIR/var/tmp/k3sa-config.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

fetch_manifest() { aws s3 cp --only-show-errors "$S3_BASE/manifest.sha256" "$WORK/manifest.sha256"; }
# On first boot the stack has just created the bucket: wait (up to an hour) for
# infra/publish-node-config.sh to upload the configuration.
log "waiting for $S3_BASE/manifest.sha256"
retry 75 fetch_manifest

while read -r sum path; do
  case "$path" in
    "" | /* | *..*)
      log "refusing manifest entry '$path'"
      exit 1
      ;;
  esac
  [ "${#sum}" -eq 64 ] || {
    log "bad checksum for $path"
    exit 1
  }
  mkdir -p "$WORK/tree/$(dirname "$path")"
  retry 5 aws s3 cp --only-show-errors "$S3_BASE/$path" "$WORK/tree/$path"
done <"$WORK/manifest.sha256"
(cd "$WORK/tree" && sha256sum --quiet --strict -c ../manifest.sha256)
log "configuration verified ($(wc -l <"$WORK/manifest.sha256") files)"

CONFIG_DIR=$ROOT_DIR/opt/k3s-autoscaler/node-config
install -d -m 0755 "$(dirname "$CONFIG_DIR")"
rm -rf "$CONFIG_DIR.new"
cp -a "$WORK/tree" "$CONFIG_DIR.new"
cp "$WORK/manifest.sha256" "$CONFIG_DIR.new/manifest.sha256"
rm -rf "$CONFIG_DIR.old"
if [ -d "$CONFIG_DIR" ]; then mv "$CONFIG_DIR" "$CONFIG_DIR.old"; fi
mv "$CONFIG_DIR.new" "$CONFIG_DIR"

export K3SA_CONFIG_DIR="$CONFIG_DIR"
bash "$CONFIG_DIR/scripts/master-bootstrap.sh"
