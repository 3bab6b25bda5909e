#!/usr/bin/env bash
# The one test command: installs what the test tiers need (idempotently, quietly), then runs
#   rust      cargo fmt --check, clippy (warnings denied), every Rust test with cargo-nextest
#             (unit, property, adapter, moto-server integration, end-to-end)
#   alerting  promtool check config/rules, promtool test rules, amtool check-config
#   iac       cfn-lint, sam validate --lint, checkov, shellcheck, IAM template/JSON agreement
# and prints a summary. Exits non-zero if any tier fails. Usage: tests/run.sh [TIER...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=tests/lib/setup.sh
source tests/lib/setup.sh

all_tiers=(rust alerting iac)
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=("${all_tiers[@]}")

summary=()
failed=0
for tier in "${tiers[@]}"; do
  script="tests/tiers/$tier.sh"
  if [ ! -f "$script" ]; then
    echo "unknown tier: $tier (have: ${all_tiers[*]})" >&2
    exit 2
  fi
  log "tier $tier"
  start=$SECONDS
  if bash "$script"; then
    summary+=("  $tier: ok ($((SECONDS - start)) s)")
  else
    summary+=("  $tier: FAILED ($((SECONDS - start)) s)")
    failed=1
  fi
done

echo
echo "k3s-autoscaler test summary:"
printf '%s\n' "${summary[@]}"
exit "$failed"
