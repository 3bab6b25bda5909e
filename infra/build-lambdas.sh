#!/usr/bin/env bash
# Builds the three Lambda zips the SAM template deploys:
#   target/lambda/{webhook,scaler,reconciler}/bootstrap.zip
# with one `cargo lambda build` of the workspace (the dependencies are compiled once for
# all three). cargo-lambda and zig come from PyPI into a cached venv (tests/lib/setup.sh);
# the Rust target is added with rustup when missing.
#
#   infra/build-lambdas.sh                 arm64 (Graviton), the template's default
#   LAMBDA_ARCH=x86_64 infra/build-lambdas.sh
#                                          then deploy with LambdaArchitecture=x86_64
#
# Then: sam build -t infra/template.yaml && sam deploy --guided (infra/README.md).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tests/lib/setup.sh
. "$ROOT/tests/lib/setup.sh"

BINS=(webhook scaler reconciler)
ARCH=${LAMBDA_ARCH:-arm64}
case "$ARCH" in
  arm64) TARGET=aarch64-unknown-linux-gnu ;;
  x86_64) TARGET=x86_64-unknown-linux-gnu ;;
  *)
    echo "LAMBDA_ARCH must be arm64 or x86_64, not '$ARCH'" >&2
    exit 2
    ;;
esac

VENV_BIN=$(ensure_venv lambda-build "$ROOT/infra/requirements-build.txt")
export PATH="$VENV_BIN:$PATH"

if ! rustup target list --installed | grep -qx "$TARGET"; then
  log "rustup target add $TARGET"
  if ! quietly rustup target add "$TARGET"; then
    echo "cannot add the Rust standard library for $TARGET (offline?);" \
      "build for the installed target with LAMBDA_ARCH=x86_64 and deploy with" \
      "LambdaArchitecture=x86_64" >&2
    exit 1
  fi
fi

cd "$ROOT"
pkg_args=()
for b in "${BINS[@]}"; do
  pkg_args+=(--package "$b" --bin "$b")
done
log "cargo lambda build --release --target $TARGET (${BINS[*]})"
# --lambda-dir: the zips land where the template's CodeUri expects them, whatever
# CARGO_TARGET_DIR says (CI keeps its build cache outside the clone).
cargo lambda build --release --target "$TARGET" --output-format zip \
  --lambda-dir "$ROOT/target/lambda" "${pkg_args[@]}"

for b in "${BINS[@]}"; do
  zip="target/lambda/$b/bootstrap.zip"
  if [ ! -s "$zip" ]; then
    echo "missing $zip" >&2
    exit 1
  fi
  # Lambda's limit is 50 MB zipped for a direct upload; a Rust binary is a few MB.
  printf '%-11s %s  %8d bytes zipped, %8d bytes unzipped\n' "$b" "$zip" \
    "$(stat -c %s "$zip")" \
    "$(python3 -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")"
done
