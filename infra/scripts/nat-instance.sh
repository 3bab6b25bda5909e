#!/usr/bin/env bash
# k3s-autoscaler NAT instance: the body of the NAT instance's user data (EgressMode=NatInstance).
#
# infra/template.yaml embeds this file verbatim (tests/iac/embed_scripts.py keeps the copy
# identical) after one export that CloudFormation fills in:
#   K3SA_PRIVATE_CIDR  the private subnets (where the scaler and reconciler ENIs live)
# It turns an Amazon Linux 2023 instance into a NAT for HTTPS only: the in-VPC Lambdas
# need AWS APIs (EC2, SQS, SSM) and Slack, all on 443; anything else is dropped here as
# well as by the security groups. Output goes to the console (stdout) and journald.
set -euo pipefail

: "${K3SA_PRIVATE_CIDR:?set by the template}"

exec > >(tee >(logger -t k3sa-nat)) 2>&1
log() { printf '%s k3sa-nat: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
trap 'log "FAILED at line $LINENO (exit $?)"' ERR

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

retry 10 dnf install -y -q iptables-services

cat >/etc/sysctl.d/90-k3sa-nat.conf <<'EOF'
net.ipv4.ip_forward = 1
net.ipv4.conf.all.send_redirects = 0
EOF
sysctl -q -p /etc/sysctl.d/90-k3sa-nat.conf

IFACE=$(ip -o -4 route show default | awk '{print $5; exit}')
[ -n "$IFACE" ] || {
  log "no default route"
  exit 1
}

iptables -t nat -F POSTROUTING
iptables -t nat -A POSTROUTING -s "$K3SA_PRIVATE_CIDR" -o "$IFACE" -j MASQUERADE
iptables -F FORWARD
iptables -P FORWARD DROP
iptables -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A FORWARD -s "$K3SA_PRIVATE_CIDR" -o "$IFACE" -p tcp --dport 443 -m conntrack --ctstate NEW -j ACCEPT
iptables-save >/etc/sysconfig/iptables
systemctl enable --now iptables
log "NAT for $K3SA_PRIVATE_CIDR via $IFACE (tcp/443 only) is up"
