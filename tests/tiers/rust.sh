#!/usr/bin/env bash
# Rust tier: formatting, lints (warnings are errors), and every Rust test with cargo-nextest.
# Integration tests start their own moto server (PyPI moto[server]) on 127.0.0.1 through
# tests/testkit; this script only installs it and tells them where it is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=tests/lib/setup.sh
source tests/lib/setup.sh

moto_bin=$(ensure_venv moto tests/requirements-moto.txt)
# The alert-path end-to-end test runs the real Prometheus and Alertmanager.
ensure_apt prometheus prometheus-alertmanager
export MOTO_SERVER="$moto_bin/moto_server"
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
# No test may reach AWS: an SDK client that forgot its moto endpoint fails fast here.
export AWS_ENDPOINT_URL=http://127.0.0.1:9

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "cargo nextest run"
cargo nextest run --workspace --all-targets --no-fail-fast --failure-output final --status-level fail --hide-progress-bar
