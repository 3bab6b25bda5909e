# shellcheck shell=bash
# Idempotent, quiet installers shared by the test tiers. Sourced, never executed.
# Everything lands under $K3SA_CACHE (default ~/.cache/k3s-autoscaler), outside the clone, so
# repeated runs on one machine reuse it.

: "${K3SA_CACHE:=${HOME:-/root}/.cache/k3s-autoscaler}"
export K3SA_CACHE
mkdir -p "$K3SA_CACHE"

# log MESSAGE: a progress line on stderr.
log() { printf '==> %s\n' "$*" >&2; }

# quietly CMD...: runs CMD, shows its output only if it fails.
quietly() {
  local out
  out=$(mktemp)
  if "$@" >"$out" 2>&1; then
    rm -f "$out"
  else
    local rc=$?
    cat "$out" >&2
    rm -f "$out"
    return "$rc"
  fi
}

# ensure_apt PACKAGE...: installs the Debian packages that are missing (apt-get update once).
ensure_apt() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  if [ ! -f "$K3SA_CACHE/.apt-updated" ]; then
    quietly "${sudo[@]}" apt-get update -qq && touch "$K3SA_CACHE/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive quietly "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ensure_venv NAME REQUIREMENTS_FILE: a Python venv at $K3SA_CACHE/venv-NAME holding exactly the
# pinned requirements; rebuilt only when the file changes. Prints the venv's bin directory.
ensure_venv() {
  local name=$1 req=$2
  local dir="$K3SA_CACHE/venv-$name"
  local stamp="$dir/.requirements.sha256"
  local want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "python venv $name ($req)"
    rm -rf "$dir"
    quietly python3 -m venv "$dir"
    quietly "$dir/bin/pip" install --disable-pip-version-check -q -r "$req"
    echo "$want" >"$stamp"
  fi
  printf '%s\n' "$dir/bin"
}

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
