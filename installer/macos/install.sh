#!/usr/bin/env bash
# Install vcam for the current user on macOS, or uninstall it.
#
#   bash installer/macos/install.sh [--prefix DIR] [--dry-run] [--no-autostart] [--python PATH]
#                                   [--packages-from VENV]
#   bash installer/macos/install.sh --uninstall [--purge-data] [--prefix DIR] [--dry-run]
#
# Needs no admin rights. The virtual camera is OBS Studio's (pyvirtualcam's macOS
# backend): the script looks for OBS and says what to do when it is missing or too
# old. Every path and flag is described in installer/README.md. Idempotent: a second
# run changes nothing. Written for the bash macOS ships (3.2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"
PROG=install.sh
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"

LABEL=local.vcam.tray
PLIST_TEMPLATE="$HERE/$LABEL.plist"
OBS_URL=https://obsproject.com/download

PREFIX="" DRY_RUN=0 AUTOSTART=1 UNINSTALL=0 PURGE=0 PYTHON="" PACKAGES_FROM=""

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --prefix) need_value "$1" $#; PREFIX="$(canonical_path "$2")"; shift ;;
      --python) need_value "$1" $#; PYTHON="$2"; shift ;;
      --packages-from) need_value "$1" $#; PACKAGES_FROM="$(abs_path "$2")"; shift ;;
      --no-autostart) AUTOSTART=0 ;;
      --dry-run) DRY_RUN=1 ;;
      --uninstall) UNINSTALL=1 ;;
      --purge-data) PURGE=1 ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown option '$1'; the options are listed by --help" ;;
    esac
    shift
  done
  [ "$PURGE" = 0 ] || [ "$UNINSTALL" = 1 ] || die "--purge-data deletes your gallery and sessions, so it only goes with --uninstall"
  [ -z "$PREFIX" ] || [ "$PREFIX" != / ] || die "--prefix / would be the real system; leave --prefix out instead"
  [ -n "$PREFIX" ] || [ "$(uname -s)" = Darwin ] \
    || die "this is the macOS installer and this is $(uname -s); use installer/linux/install.sh, or pass --prefix DIR to try it out"
}

# Where everything goes: the folders platformdirs gives vcam on macOS (data and config
# share one). With --prefix DIR, DIR/home stands for $HOME and DIR/Applications for /Applications.
set_paths() {
  local home="$HOME"
  APPLICATIONS=/Applications
  if [ -n "$PREFIX" ]; then home="$PREFIX/home" APPLICATIONS="$PREFIX/Applications"; fi
  DATA_DIR="$home/Library/Application Support/vcam" CACHE_DIR="$home/Library/Caches/vcam"
  LOG_DIR="$home/Library/Logs/vcam"
  VENV="$DATA_DIR/venv" APP="$DATA_DIR/app" VCAM_BIN="$DATA_DIR/venv/bin/vcam"
  LAUNCHER="$home/.local/bin/vcam" AGENT="$home/Library/LaunchAgents/$LABEL.plist"
}

default_python() {
  local py
  for py in "$(command -v python3.11 || true)" /opt/homebrew/bin/python3.11 /usr/local/bin/python3.11 \
    /Library/Frameworks/Python.framework/Versions/3.11/bin/python3.11; do
    if [ -n "$py" ] && [ -x "$py" ]; then echo "$py"; return 0; fi
  done
}

# -- the LaunchAgent -----------------------------------------------------------------

# agent_plist: the template with this install's paths, written by plistlib (valid XML, escaped).
agent_plist() {
  "$PYTHON" - "$PLIST_TEMPLATE" "$VCAM_BIN" "$LOG_DIR" <<'EOF'
import plistlib, sys
template, vcam, logs = sys.argv[1:]
with open(template, "rb") as f:
    agent = plistlib.load(f)
fill = lambda s: s.replace("@VCAM@", vcam).replace("@LOG_DIR@", logs)
agent["ProgramArguments"] = [fill(a) for a in agent["ProgramArguments"]]
for key in ("StandardOutPath", "StandardErrorPath"):
    agent[key] = fill(agent[key])
sys.stdout.write(plistlib.dumps(agent).decode())
EOF
}

# launchctl_do ARGS...: launchctl in this login session, or what would be run.
launchctl_do() {
  if [ -n "$PREFIX" ] || [ "$DRY_RUN" = 1 ]; then say "would run: $(show_cmd launchctl "$@")"; return 0; fi
  if launchctl "$@"; then changed "ran: launchctl $*"; else note "launchctl $* failed; vcam starts at your next login"; fi
}

agent_loaded() {
  [ -z "$PREFIX" ] && [ "$DRY_RUN" = 0 ] && launchctl print "gui/$(id -u)/$LABEL" >/dev/null 2>&1
}

agent_step() {
  local before="" want
  if [ "$AUTOSTART" = 0 ]; then remove_agent; return 0; fi
  [ -f "$AGENT" ] && before="$(cat "$AGENT")"
  want="$(agent_plist)"
  act_mkdir "$LOG_DIR"
  act_write "$AGENT" 644 "$want"
  [ "$before" = "$want" ] && return 0
  ! agent_loaded || launchctl_do bootout "gui/$(id -u)/$LABEL"
  launchctl_do bootstrap "gui/$(id -u)" "$AGENT"
}

remove_agent() {
  [ -f "$AGENT" ] || return 0
  if agent_loaded || [ -n "$PREFIX" ] || [ "$DRY_RUN" = 1 ]; then launchctl_do bootout "gui/$(id -u)/$LABEL"; fi
  act_remove "$AGENT"
}

# -- OBS Studio ----------------------------------------------------------------------

# The OBS version pyvirtualcam needs: its camera extension (OBS 30) from macOS 13
# (Darwin 22) on, the older DAL plug-in (OBS 26.1) before.
obs_needed() {
  if [ "$(uname -s)" = Darwin ] && [ "$(uname -r | cut -d. -f1)" -lt 22 ]; then echo 26.1; else echo 30.0; fi
}

version_at_least() {
  "$PYTHON" -c 'import sys
v = [tuple(int(p) for p in s.split(".")[:3] if p.isdigit()) for s in sys.argv[1:]]
sys.exit(0 if v[0] >= v[1] else 1)' "$1" "$2"
}

obs_version() {
  "$PYTHON" -c 'import plistlib, sys; print(plistlib.load(open(sys.argv[1], "rb")).get("CFBundleShortVersionString", "0"))' \
    "$APPLICATIONS/OBS.app/Contents/Info.plist" 2>/dev/null || true
}

obs_guidance() {
  local need got
  need="$(obs_needed)" got="$(obs_version)"
  if [ -z "$got" ]; then
    note "the virtual camera needs OBS Studio $need or later in $APPLICATIONS: get it from $OBS_URL (or: brew install --cask obs), start its Virtual Camera once, allow the camera extension (System Settings > General > Login Items & Extensions > Camera Extensions), then stop it and quit OBS: only one program can own the camera"
  elif version_at_least "$got" "$need"; then
    say "found OBS Studio $got; if vcam says the camera is missing, start OBS's Virtual Camera once, then stop it and quit OBS"
  else
    note "OBS Studio $got is too old for vcam's virtual camera: update it to $need or later from $OBS_URL, then start its Virtual Camera once"
  fi
}

# -- install and uninstall ------------------------------------------------------------

install_main() {
  PYTHON="${PYTHON:-$(default_python)}"
  check_python "$PYTHON"
  [ -z "$PACKAGES_FROM" ] || check_packages_from "$PACKAGES_FROM" "$PYTHON"
  venv_setup "$VENV" "$PYTHON" "$PACKAGES_FROM"
  act_remove "$APP"  # the copy of the checkout an earlier installer installed editable; vcam is a wheel now
  act_write_ours "$LAUNCHER" 755 "$(launcher "$VCAM_BIN")"
  agent_step
  obs_guidance
  case ":$PATH:" in *":$(dirname "$LAUNCHER"):"*) ;; *) [ -n "$PREFIX" ] || note "$(dirname "$LAUNCHER") is not on your PATH; add it, or run $LAUNCHER" ;; esac
  [ "$DRY_RUN" = 1 ] || say "installed; check this machine with: $LAUNCHER doctor"
}

uninstall_main() {
  ask_to_quit "$VENV"
  remove_agent
  act_remove_ours "$LAUNCHER"
  act_remove "$VENV"
  act_remove "$APP"
  if [ "$PURGE" = 1 ]; then
    act_remove "$DATA_DIR"; act_remove "$CACHE_DIR"; act_remove "$LOG_DIR"
  else
    act_rmdir_if_empty "$LOG_DIR"
    act_rmdir_if_empty "$DATA_DIR"
    [ ! -d "$DATA_DIR" ] || say "kept your gallery, sessions, downloaded models and settings in $DATA_DIR (--purge-data deletes them)"
  fi
  if [ -d "$APPLICATIONS/OBS.app" ]; then note "OBS Studio stays installed; remove it from $APPLICATIONS if you no longer need it"; fi
}

main() {
  parse_args "$@"
  set_paths
  if [ "$UNINSTALL" = 1 ]; then uninstall_main; else install_main; fi
  finish
}

main "$@"
