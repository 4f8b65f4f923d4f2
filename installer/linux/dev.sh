#!/usr/bin/env bash
# Set up vcam from this checkout on Debian/Ubuntu, then run it or its tests.
#
#   bash installer/linux/dev.sh run [vcam run flags...]   # set up, then run vcam (demo source without a webcam)
#   bash installer/linux/dev.sh test [pytest args...]     # set up, then run the whole test suite
#   bash installer/linux/dev.sh setup                     # set up only
#
# Set-up is idempotent: system packages (as root, via apt-get), a virtual
# environment in .venv/ at the repository root, every Python package pinned by
# requirements.lock and requirements-test.lock (with their hashes), the model-only packages of
# requirements-nodeps.lock (with --no-deps), and vcam itself in editable mode.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
# System packages with the "dev" role in apt-packages.txt (shared with install.sh).
APT_PACKAGES=($(awk '!/^[[:space:]]*(#|$)/ && $2 ~ /(^|,)dev(,|$)/ {print $1}' "$ROOT/installer/linux/apt-packages.txt"))

log() { printf 'dev.sh: %s\n' "$*" >&2; }
[ ${#APT_PACKAGES[@]} -gt 0 ] || { log "no packages read from installer/linux/apt-packages.txt"; exit 1; }

apt_setup() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    log "missing system packages: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) and run again"
    exit 1
  fi
  log "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_for_venv() {
  # Debian's own Python 3.11 when present: python3-venv above belongs to it.
  if [ -x /usr/bin/python3.11 ]; then echo /usr/bin/python3.11; else command -v python3.11 || command -v python3; fi
}

venv_setup() {
  local stamp="$VENV/.vcam-lock.sha256" want
  want="$(cat "$ROOT/requirements.lock" "$ROOT/requirements-test.lock" "$ROOT/requirements-nodeps.lock" \
    "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$(python_for_venv)" -m venv "$VENV"; }
  log "installing Python packages from requirements.lock and requirements-test.lock"
  # --require-hashes: every file pip downloads must have one of the sha256 the locks list (installer/lock.sh).
  "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes \
    -r "$ROOT/requirements.lock" -r "$ROOT/requirements-test.lock"
  "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps -r "$ROOT/requirements-nodeps.lock"
  # vcam itself, editable: built with the setuptools just installed from requirements-test.lock, so
  # nothing unhashed is downloaded for it (pip's isolated build would fetch setuptools unchecked).
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT"
  pip_check
  echo "$want" > "$stamp"
}

# pip check, accepting only the missing requirements of the --no-deps packages (requirements-nodeps.lock).
pip_check() {
  local nodeps out
  nodeps="$(awk '!/^[[:space:]]*(#|$)/ {split($1, p, "=="); print p[1]}' "$ROOT/requirements-nodeps.lock" | paste -sd'|')"
  out="$("$VENV/bin/pip" check 2>&1)" && return 0
  out="$(printf '%s\n' "$out" | grep -Eiv "^($nodeps) [^ ]+ requires .*, which is not installed\.$" || true)"
  [ -z "$out" ] || { log "pip check failed: $out"; return 1; }
}

run_tests() {
  cd "$ROOT"
  local rc=0
  "$VENV/bin/python" -m pytest "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then log "pytest collected no tests: treating that as a failure"; return 1; fi
  return "$rc"
}

main() {
  local cmd="${1:-setup}"
  shift || true
  apt_setup
  venv_setup
  case "$cmd" in
    setup) log "ready: $VENV/bin/vcam" ;;
    run) cd "$ROOT" && exec "$VENV/bin/vcam" run "$@" ;;
    test) run_tests "$@" ;;
    *) log "unknown command '$cmd': expected run, test or setup"; exit 2 ;;
  esac
}

main "$@"
