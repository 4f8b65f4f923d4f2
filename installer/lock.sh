#!/usr/bin/env bash
# Add the sha256 of every file of every pinned package to the lock files, for `pip install --require-hashes`.
#
#   bash installer/lock.sh
#
# The versions stay those the locks already pin (they are frozen from a real environment, as
# their headers say): this resolves pyproject.toml, with and without its `test` extra, for Linux
# x86_64, macOS arm64 and Windows x86_64 (Python 3.11), every package constrained to its pin, with
# uv's `pip compile --generate-hashes` from the default package index, in a throwaway virtual
# environment; then installer/lib/lock_hashes.py writes each pin back with all the hashes of its
# version, and adds with a sys_platform marker the packages only some platforms need.
# requirements-nodeps.lock, when there is one, gets its hashes without its dependencies (--no-deps).
# Run it after every change to a lock or to pyproject's dependencies, and commit the result.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION=0.13.9
# sys_platform -> uv's target; the same list as PLATFORMS in installer/lib/lock_hashes.py.
TARGETS="x86_64-manylinux_2_28 aarch64-apple-darwin x86_64-pc-windows-msvc"

log() { printf 'lock.sh: %s\n' "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/vcam-lock.XXXXXX")"
trap 'rm -rf -- "$WORK"' EXIT

# The pins the locks hold, without their hashes, as constraints.
pins() {
  sed -e 's/[[:space:]]*\\$//' "$@" | grep -E '^[A-Za-z0-9]' || true
}

compile() {
  local target="$1" out="$2"
  shift 2
  # onnxruntime's macOS wheels are for macOS 14 and later.
  MACOSX_DEPLOYMENT_TARGET=14.0 "$WORK/venv/bin/uv" pip compile --no-config --quiet --python-version 3.11 \
    --python-platform "$target" --generate-hashes --no-header --no-annotate -o "$out" "$@"
}

main() {
  log "installing uv $UV_VERSION into a throwaway environment"
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
  pins "$ROOT/requirements.lock" "$ROOT/requirements-test.lock" > "$WORK/pins.txt"
  local target
  for target in $TARGETS; do
    log "resolving for $target"
    compile "$target" "$WORK/main-$target.txt" "$ROOT/pyproject.toml" -c "$WORK/pins.txt"
    compile "$target" "$WORK/all-$target.txt" "$ROOT/pyproject.toml" --extra test -c "$WORK/pins.txt"
  done
  if [ -f "$ROOT/requirements-nodeps.lock" ]; then
    pins "$ROOT/requirements-nodeps.lock" > "$WORK/nodeps.in"
    compile x86_64-manylinux_2_28 "$WORK/nodeps.txt" --no-deps "$WORK/nodeps.in"
  fi
  python3 "$ROOT/installer/lib/lock_hashes.py" "$WORK" "$ROOT"
}

main "$@"
