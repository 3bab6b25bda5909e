#!/usr/bin/env bash
# k3s-autoscaler worker bootstrap: the body of the worker launch template's user data.
#
# infra/template.yaml embeds this file verbatim (tests/iac/embed_scripts.py keeps the copy
# identical) after three exports that CloudFormation fills in:
#   K3SA_CLUSTER_ID        cluster id (tag k3s-autoscaler/cluster, SSM prefix)
#   K3SA_K3S_VERSION       pinned K3s release, e.g. v1.31.4+k3s1
#   K3SA_PARAMETER_PREFIX  /k3s-autoscaler/<cluster id>
# Everything else comes from instance metadata (IMDSv2) and SSM Parameter Store, so a
# changed master address is one update of <prefix>/server-url, and the join token is never
# in user data or in the launch template. The instance role may read exactly those two
# parameters. Output goes to the console and cloud-init-output.log (stdout) and to journald
# (tag k3sa-worker). A worker that fails here never turns Ready; the scaler terminates it
# after the policy's ready_timeout.
set -euo pipefail

: "${K3SA_CLUSTER_ID:?set by the launch template}"
: "${K3SA_K3S_VERSION:?set by the launch template}"
: "${K3SA_PARAMETER_PREFIX:?set by the launch template}"

exec > >(tee >(logger -t k3sa-worker)) 2>&1

log() { printf '%s k3sa-worker: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
trap 'log "FAILED at line $LINENO (exit $?)"' ERR

# retry ATTEMPTS CMD...: runs CMD until it succeeds, with exponential backoff (2 s .. 60 s).
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
metadata() {
  curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/meta-data/$1"
}

IMDS_TOKEN=$(retry 10 imds_token)
INSTANCE_ID=$(retry 10 metadata instance-id)
AZ=$(retry 10 metadata placement/availability-zone)
REGION=$(retry 10 metadata placement/region)
PRIVATE_IP=$(retry 10 metadata local-ipv4)
INSTANCE_TYPE=$(retry 10 metadata instance-type)
# instance-life-cycle is "spot" or "on-demand" (also "scheduled", "capacity-block": on-demand billing).
LIFECYCLE_RAW=$(retry 10 metadata instance-life-cycle)
case "$LIFECYCLE_RAW" in
  spot) LIFECYCLE=spot ;;
  *) LIFECYCLE=on-demand ;;
esac
log "instance $INSTANCE_ID ($INSTANCE_TYPE, $LIFECYCLE) in $AZ, cluster $K3SA_CLUSTER_ID"

if systemctl is-active --quiet k3s-agent; then
  log "k3s-agent already running; nothing to do"
  exit 0
fi

ssm_value() {
  aws ssm get-parameter --region "$REGION" --name "$1" --with-decryption \
    --query Parameter.Value --output text
}
# The master publishes both parameters once its API is up; a worker launched before that
# waits here (up to ~25 minutes) rather than failing.
SERVER_URL=$(retry 30 ssm_value "$K3SA_PARAMETER_PREFIX/server-url")
K3S_TOKEN=$(retry 30 ssm_value "$K3SA_PARAMETER_PREFIX/join-token")
case "$SERVER_URL" in
  https://*:6443) ;;
  *)
    log "unexpected server URL in $K3SA_PARAMETER_PREFIX/server-url: $SERVER_URL"
    exit 1
    ;;
esac
log "joining $SERVER_URL"

# The installer is taken from the same K3s release tag as the binary it installs; it checks
# the binary's sha256 against that release's checksum file.
STATE_DIR=${K3SA_STATE_DIR:-/var/lib/k3s-autoscaler} # overridden by tests/iac/test_user_data.py only
INSTALLER=$STATE_DIR/k3s-install.sh
install -d -m 0700 "$STATE_DIR"
retry 8 curl -fsSL --proto '=https' --tlsv1.2 --max-time 60 -o "$INSTALLER" \
  "https://raw.githubusercontent.com/k3s-io/k3s/${K3SA_K3S_VERSION//+/%2B}/install.sh"

# The token goes to the installer through the environment (it writes it to a root-only
# systemd env file); it is never printed nor passed on a command line.
export K3S_URL="$SERVER_URL" K3S_TOKEN
export INSTALL_K3S_VERSION="$K3SA_K3S_VERSION"
# Amazon Linux 2023 ships SELinux permissive and has no k3s-selinux package.
export INSTALL_K3S_SKIP_SELINUX_RPM=true INSTALL_K3S_SELINUX_WARN=true
retry 5 sh "$INSTALLER" agent \
  --node-name "$INSTANCE_ID" \
  --node-ip "$PRIVATE_IP" \
  "--kubelet-arg=provider-id=aws:///$AZ/$INSTANCE_ID" \
  --node-label "topology.kubernetes.io/zone=$AZ" \
  --node-label "node.kubernetes.io/instance-type=$INSTANCE_TYPE" \
  --node-label "k3s-autoscaler/lifecycle=$LIFECYCLE" \
  --node-label "k3s-autoscaler/managed=true"
unset K3S_TOKEN

agent_active() { systemctl is-active --quiet k3s-agent; }
retry 12 agent_active
log "k3s-agent running as node $INSTANCE_ID; the scaler counts it once it is Ready"
