#!/usr/bin/env bash
# render-node-config.sh CLUSTER_ID WEBHOOK_URL SRC_DIR OUT_DIR
#
# Renders the repository's alerting files for the cluster, as the master runs them:
#   SRC_DIR/prometheus.yml                  -> OUT_DIR/prometheus.yml
#   SRC_DIR/rules/autoscaler.rules.yml      -> OUT_DIR/rules/autoscaler.rules.yml
#   SRC_DIR/alertmanager.yml                -> OUT_DIR/alertmanager.yml
# replacing the literal placeholders ${K3SA_CLUSTER_ID} and ${K3SA_WEBHOOK_URL} and nothing
# else: Prometheus and Alertmanager templates keep their own {{ }}, $labels and $value.
# Called by master-bootstrap.sh; tests/tiers/iac.sh renders the real files with it.
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 CLUSTER_ID WEBHOOK_URL SRC_DIR OUT_DIR" >&2
  exit 2
fi
CLUSTER_ID=$1 WEBHOOK_URL=$2 SRC=$3 OUT=$4
case "$CLUSTER_ID" in
  "" | *[!a-z0-9-]*)
    echo "bad cluster id '$CLUSTER_ID'" >&2
    exit 2
    ;;
esac
case "$WEBHOOK_URL" in
  https://*) ;;
  *)
    echo "the webhook URL must be https://..., not '$WEBHOOK_URL'" >&2
    exit 2
    ;;
esac

render() {
  local text
  text=$(<"$1")
  # The single quotes are the point: the placeholders are matched literally. The quoted
  # replacements keep a '&' in the URL literal (bash 5.2 patsub_replacement).
  # shellcheck disable=SC2016
  text=${text//'${K3SA_CLUSTER_ID}'/"$CLUSTER_ID"}
  # shellcheck disable=SC2016
  text=${text//'${K3SA_WEBHOOK_URL}'/"$WEBHOOK_URL"}
  # shellcheck disable=SC2016
  case "$text" in
    *'${K3SA_'*)
      echo "$1: an unknown \${K3SA_...} placeholder is left" >&2
      return 1
      ;;
  esac
  printf '%s\n' "$text"
}

mkdir -p "$OUT/rules"
render "$SRC/prometheus.yml" >"$OUT/prometheus.yml"
render "$SRC/rules/autoscaler.rules.yml" >"$OUT/rules/autoscaler.rules.yml"
render "$SRC/alertmanager.yml" >"$OUT/alertmanager.yml"
