#!/usr/bin/env bash
# k3s-autoscaler master bootstrap. Run as root by master-user-data.sh (first boot) and by
# /usr/local/sbin/k3sa-master-refresh (after a new configuration is published). Idempotent.
#
# 1. installs the pinned K3s server, tainted node-role.kubernetes.io/control-plane=true:NoSchedule,
#    with a separate agent-only join token and secrets encryption at rest;
# 2. publishes <prefix>/server-url (String) and <prefix>/join-token (SecureString);
# 3. creates <prefix>/alertmanager-token (SecureString) once, if absent;
# 4. deploys Prometheus, node-exporter, kube-state-metrics and Alertmanager as K3s
#    auto-deployed manifests, with prometheus.yml, the alert rules and alertmanager.yml
#    from the repository's alertmanager/ folder;
# 5. applies the autoscaler's ServiceAccount and ClusterRole (k8s/rbac.yaml) and publishes
#    <prefix>/kube-api-url (String), <prefix>/kube-token (SecureString), <prefix>/kube-ca (String);
# 6. makes K3s's packaged add-ons prefer the master (a preferred node affinity, never required),
#    so none keeps a worker from being scaled down: traefik through a HelmChartConfig
#    (k8s/addons.yaml, auto-deployed), coredns, metrics-server and local-path-provisioner
#    through a strategic-merge patch of their Deployments (k8s/addon-affinity.yaml). After
#    step 5, so a failure here never withholds the autoscaler's credentials.
#
# Environment (from master-user-data.sh): K3SA_CLUSTER_ID, K3SA_K3S_VERSION,
# K3SA_PARAMETER_PREFIX, K3SA_WEBHOOK_URL, K3SA_CONFIG_DIR, AWS_REGION.
# Secrets never appear on a command line or in the log: values go to the AWS CLI as
# file:// arguments from a root-only directory.
set -euo pipefail

: "${K3SA_CLUSTER_ID:?}" "${K3SA_K3S_VERSION:?}" "${K3SA_PARAMETER_PREFIX:?}"
: "${K3SA_WEBHOOK_URL:?}" "${K3SA_CONFIG_DIR:?}" "${AWS_REGION:?}"

log() { printf '%s k3sa-master: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
trap 'log "bootstrap FAILED at line $LINENO (exit $?)"' ERR

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

P=$K3SA_PARAMETER_PREFIX
STATE=/var/lib/k3s-autoscaler
SECRETS=/run/k3s-autoscaler
MANIFESTS=/var/lib/rancher/k3s/server/manifests
install -d -m 0700 "$STATE" "$SECRETS"
kubectl() { /usr/local/bin/k3s kubectl "$@"; }

# --- instance identity (IMDSv2) -------------------------------------------------------------
IMDS=http://169.254.169.254/latest
imds_token() {
  curl -fsS --max-time 5 -X PUT "$IMDS/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600'
}
IMDS_TOKEN=$(retry 10 imds_token)
metadata() { curl -fsS --max-time 5 -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "$IMDS/meta-data/$1"; }
INSTANCE_ID=$(retry 10 metadata instance-id)
AZ=$(retry 10 metadata placement/availability-zone)
PRIVATE_IP=$(retry 10 metadata local-ipv4)
API_URL="https://$PRIVATE_IP:6443"
log "master $INSTANCE_ID in $AZ, API $API_URL, cluster $K3SA_CLUSTER_ID"

# --- 1. K3s server ------------------------------------------------------------------------------
AGENT_TOKEN_FILE=/etc/rancher/k3s/agent-token
install -d -m 0700 /etc/rancher/k3s
if [ ! -s "$AGENT_TOKEN_FILE" ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$AGENT_TOKEN_FILE")
fi
cat >/etc/rancher/k3s/config.yaml <<EOF
# Written by k3s-autoscaler master-bootstrap.sh.
node-name: "$INSTANCE_ID"
node-ip: "$PRIVATE_IP"
advertise-address: "$PRIVATE_IP"
tls-san:
  - "$PRIVATE_IP"
node-taint:
  - "node-role.kubernetes.io/control-plane=true:NoSchedule"
node-label:
  - "topology.kubernetes.io/zone=$AZ"
  - "k3s-autoscaler/role=master"
kubelet-arg:
  - "provider-id=aws:///$AZ/$INSTANCE_ID"
agent-token-file: "$AGENT_TOKEN_FILE"
secrets-encryption: true
write-kubeconfig-mode: "0600"
EOF
chmod 0600 /etc/rancher/k3s/config.yaml

config_sum=$(sha256sum /etc/rancher/k3s/config.yaml | cut -d' ' -f1)
installed_version() { /usr/local/bin/k3s --version 2>/dev/null | awk 'NR==1 {print $3}'; }
if [ "$(installed_version || true)" != "$K3SA_K3S_VERSION" ]; then
  INSTALLER=$STATE/k3s-install.sh
  retry 8 curl -fsSL --proto '=https' --tlsv1.2 --max-time 60 -o "$INSTALLER" \
    "https://raw.githubusercontent.com/k3s-io/k3s/${K3SA_K3S_VERSION//+/%2B}/install.sh"
  log "installing K3s $K3SA_K3S_VERSION"
  export INSTALL_K3S_VERSION="$K3SA_K3S_VERSION"
  # Amazon Linux 2023 ships SELinux permissive and has no k3s-selinux package.
  export INSTALL_K3S_SKIP_SELINUX_RPM=true INSTALL_K3S_SELINUX_WARN=true
  retry 5 sh "$INSTALLER" server
elif [ "$config_sum" != "$(cat "$STATE/k3s-config.sha256" 2>/dev/null || true)" ]; then
  log "K3s configuration changed; restarting k3s"
  systemctl restart k3s
fi
printf '%s\n' "$config_sum" >"$STATE/k3s-config.sha256"

api_ready() { kubectl get --raw /readyz >/dev/null 2>&1; }
retry 30 api_ready
node_ready() {
  [ "$(kubectl get node "$INSTANCE_ID" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
retry 30 node_ready
log "K3s server ready"

# --- SSM helpers ----------------------------------------------------------------------------------
# put_param NAME TYPE FILE: writes the file's content (no trailing newline added) to SSM.
put_param() {
  aws ssm put-parameter --name "$1" --type "$2" --value "file://$3" --overwrite --tier Standard \
    --output text --query Version >/dev/null
}
ssm_get() {
  aws ssm get-parameter --name "$1" --with-decryption --query Parameter.Value --output text
}

# --- 2. join parameters ---------------------------------------------------------------------------
printf '%s' "$API_URL" >"$SECRETS/server-url"
retry 10 put_param "$P/server-url" String "$SECRETS/server-url"
# K3s writes the agent token in its secure form (K10<CA hash>::node:<secret>), which makes
# agents verify the server CA; it can join agents only, never servers.
if [ -s /var/lib/rancher/k3s/server/agent-token ]; then
  tr -d '\n' </var/lib/rancher/k3s/server/agent-token >"$SECRETS/join-token"
else
  tr -d '\n' <"$AGENT_TOKEN_FILE" >"$SECRETS/join-token"
fi
chmod 0600 "$SECRETS/join-token"
retry 10 put_param "$P/join-token" SecureString "$SECRETS/join-token"
log "published $P/server-url and $P/join-token"

# --- 3. Alertmanager bearer token (created once; rotate by deleting the parameter and refreshing) -
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRETS/alertmanager-token.new")
if aws ssm put-parameter --name "$P/alertmanager-token" --type SecureString --tier Standard \
  --value "file://$SECRETS/alertmanager-token.new" --output text --query Version >/dev/null 2>"$SECRETS/put.err"; then
  log "created $P/alertmanager-token"
elif grep -q ParameterAlreadyExists "$SECRETS/put.err"; then
  log "$P/alertmanager-token exists; keeping it"
else
  cat "$SECRETS/put.err" >&2
  exit 1
fi
rm -f "$SECRETS/alertmanager-token.new" "$SECRETS/put.err"
(umask 077 && retry 10 ssm_get "$P/alertmanager-token" | tr -d '\n' >"$SECRETS/alertmanager-token")

# --- 4. monitoring ------------------------------------------------------------------------------
# prometheus.yml, the rules and alertmanager.yml with the cluster id and the webhook URL filled
# in (render-node-config.sh replaces those two placeholders and nothing else).
RENDERED=$STATE/rendered
rm -rf "$RENDERED"
install -d -m 0700 "$RENDERED"
bash "$K3SA_CONFIG_DIR/scripts/render-node-config.sh" "$K3SA_CLUSTER_ID" "$K3SA_WEBHOOK_URL" \
  "$K3SA_CONFIG_DIR/alertmanager" "$RENDERED"

# The hostPath that keeps Prometheus' 7 days of TSDB on the master's EBS volume.
install -d -m 0750 -o 65534 -g 65534 "$STATE/prometheus"
install -m 0600 "$K3SA_CONFIG_DIR/k8s/rbac.yaml" "$MANIFESTS/k3s-autoscaler-rbac.yaml"
install -m 0600 "$K3SA_CONFIG_DIR/k8s/monitoring.yaml" "$MANIFESTS/k3s-autoscaler-monitoring.yaml"

namespace_exists() { kubectl get namespace monitoring >/dev/null 2>&1; }
retry 20 namespace_exists
kubectl -n monitoring create configmap prometheus-config \
  --from-file=prometheus.yml="$RENDERED/prometheus.yml" \
  --from-file=autoscaler.rules.yml="$RENDERED/rules/autoscaler.rules.yml" \
  --dry-run=client -o yaml >"$MANIFESTS/k3s-autoscaler-prometheus-config.yaml"
chmod 0600 "$MANIFESTS/k3s-autoscaler-prometheus-config.yaml"
# The Secret (alertmanager.yml and the bearer token Alertmanager sends to the webhook) is
# applied directly, not left in the manifests folder. alertmanager.yml reads the token from
# /etc/alertmanager/secrets/webhook-token (http_config.authorization.credentials_file).
kubectl -n monitoring create secret generic alertmanager-config \
  --from-file=alertmanager.yml="$RENDERED/alertmanager.yml" \
  --from-file=webhook-token="$SECRETS/alertmanager-token" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null

# Restart the two servers when their configuration changed since the last run.
new_sum=$(cat "$RENDERED"/*.yml "$RENDERED"/rules/*.yml "$SECRETS/alertmanager-token" | sha256sum | cut -d' ' -f1)
old_sum=$(cat "$STATE/monitoring-config.sha256" 2>/dev/null || true)
if [ -n "$old_sum" ] && [ "$new_sum" != "$old_sum" ]; then
  log "monitoring configuration changed; restarting Prometheus and Alertmanager"
  kubectl -n monitoring rollout restart deployment/prometheus deployment/alertmanager >/dev/null
fi
printf '%s\n' "$new_sum" >"$STATE/monitoring-config.sha256"
rm -f "$SECRETS/alertmanager-token"

deployment_ready() {
  kubectl -n monitoring rollout status "deployment/$1" --timeout=20s >/dev/null 2>&1
}
for d in prometheus alertmanager kube-state-metrics; do
  retry 20 deployment_ready "$d"
done
log "monitoring stack ready"

# --- 5. the autoscaler's access to the K3s API --------------------------------------------------
token_ready() {
  [ -n "$(kubectl -n kube-system get secret k3s-autoscaler-token -o jsonpath='{.data.token}' 2>/dev/null)" ]
}
retry 20 token_ready
(umask 077 && kubectl -n kube-system get secret k3s-autoscaler-token -o jsonpath='{.data.token}' |
  base64 -d >"$SECRETS/kube-token")
kubectl -n kube-system get secret k3s-autoscaler-token -o jsonpath='{.data.ca\.crt}' |
  base64 -d >"$SECRETS/kube-ca"
retry 10 put_param "$P/kube-api-url" String "$SECRETS/server-url"
retry 10 put_param "$P/kube-token" SecureString "$SECRETS/kube-token"
retry 10 put_param "$P/kube-ca" String "$SECRETS/kube-ca"
rm -f "$SECRETS/kube-token" "$SECRETS/join-token"
log "published $P/kube-api-url, $P/kube-token and $P/kube-ca"

# --- 6. K3s add-ons prefer the master -------------------------------------------------------------
# Why, and why a preferred affinity only: k8s/addon-affinity.yaml. A Deployment K3s does not run
# (--disable) is skipped (--ignore-not-found: an API error is retried, never taken for a disabled
# add-on); a second run changes nothing ("patched (no change)", no rollout).
install -m 0600 "$K3SA_CONFIG_DIR/k8s/addons.yaml" "$MANIFESTS/k3s-autoscaler-addons.yaml"
ADDON_PATCH=$K3SA_CONFIG_DIR/k8s/addon-affinity.yaml
for d in coredns metrics-server local-path-provisioner; do
  found=$(retry 10 kubectl -n kube-system get deployment "$d" --ignore-not-found -o name)
  if [ -z "$found" ]; then
    log "kube-system/$d is not deployed (disabled in K3s?); not patched"
    continue
  fi
  result=$(retry 5 kubectl -n kube-system patch deployment "$d" --type strategic --patch-file "$ADDON_PATCH")
  log "kube-system/$d prefers the master: $result"
done
log "installed $MANIFESTS/k3s-autoscaler-addons.yaml (traefik's affinity); bootstrap complete"
