#!/usr/bin/env bash
# Install vcam for the current user on Debian/Ubuntu, or uninstall it.
#
#   bash installer/linux/install.sh [--prefix DIR] [--dry-run] [--no-apt] [--autostart xdg|systemd|none]
#                                   [--no-autostart] [--python PATH] [--packages-from VENV]
#   bash installer/linux/install.sh --uninstall [--purge-data] [--prefix DIR] [--dry-run]
#
# Run it as yourself, not with sudo: vcam lives in your home. The few steps that need
# root (apt packages, the v4l2loopback options in /etc) run directly when you are root,
# and otherwise are printed at the end as exact sudo commands. Every path and flag is
# described in installer/README.md. Idempotent: a second run changes nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/../.." && pwd)"
PROG=install.sh
# shellcheck source=../lib/common.sh
. "$HERE/../lib/common.sh"

# Chrome lists only cameras with exclusive_caps=1; the label is what meeting apps show.
MODPROBE_OPTIONS="options v4l2loopback exclusive_caps=1 card_label=vcam"
UNIT=vcam.service

PREFIX="" DRY_RUN=0 APT=1 AUTOSTART=xdg UNINSTALL=0 PURGE=0 PYTHON="" PACKAGES_FROM=""

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --prefix) need_value "$1" $#; PREFIX="$(canonical_path "$2")"; shift ;;
      --python) need_value "$1" $#; PYTHON="$2"; shift ;;
      --packages-from) need_value "$1" $#; PACKAGES_FROM="$(abs_path "$2")"; shift ;;
      --autostart) need_value "$1" $#; AUTOSTART="$2"; shift ;;
      --no-autostart) AUTOSTART=none ;;
      --dry-run) DRY_RUN=1 ;;
      --no-apt) APT=0 ;;
      --uninstall) UNINSTALL=1 ;;
      --purge-data) PURGE=1 ;;
      -h | --help) usage; exit 0 ;;
      *) die "unknown option '$1'; the options are listed by --help" ;;
    esac
    shift
  done
  case "$AUTOSTART" in xdg | systemd | none) ;; *) die "--autostart '$AUTOSTART' is not a mode; use xdg, systemd or none" ;; esac
  [ "$PURGE" = 0 ] || [ "$UNINSTALL" = 1 ] || die "--purge-data deletes your gallery and sessions, so it only goes with --uninstall"
  [ -z "$PREFIX" ] || [ "$PREFIX" != / ] || die "--prefix / would be the real system; leave --prefix out instead"
}

# Where everything goes. Without --prefix: the XDG folders platformdirs uses too, so the
# data dir is the one vcam keeps its gallery in. With --prefix DIR: DIR/home stands for
# $HOME and DIR/etc for /etc, and the XDG variables are ignored.
set_paths() {
  local home="$HOME" data config cache state
  data="${XDG_DATA_HOME:-$HOME/.local/share}" config="${XDG_CONFIG_HOME:-$HOME/.config}"
  cache="${XDG_CACHE_HOME:-$HOME/.cache}" state="${XDG_STATE_HOME:-$HOME/.local/state}" ETC=/etc
  if [ -n "$PREFIX" ]; then
    home="$PREFIX/home" ETC="$PREFIX/etc"
    data="$home/.local/share" config="$home/.config" cache="$home/.cache" state="$home/.local/state"
  fi
  DATA_DIR="$data/vcam" CONFIG_DIR="$config/vcam" CACHE_DIR="$cache/vcam" STATE_DIR="$state/vcam"
  VENV="$DATA_DIR/venv" APP="$DATA_DIR/app" VCAM_BIN="$DATA_DIR/venv/bin/vcam"
  LAUNCHER="$home/.local/bin/vcam"
  AUTOSTART_ENTRY="$config/autostart/vcam.desktop" MENU_ENTRY="$data/applications/vcam.desktop"
  UNIT_FILE="$config/systemd/user/$UNIT" UNIT_WANTS="$config/systemd/user/graphical-session.target.wants/$UNIT"
  MODPROBE_CONF="$ETC/modprobe.d/vcam-v4l2loopback.conf" MODULES_LOAD_CONF="$ETC/modules-load.d/vcam.conf"
}

is_root() { [ "$(id -u)" = 0 ]; }

# Real root steps run only as root and without --prefix; with --prefix, /etc is PREFIX/etc.
can_touch_etc() { [ -n "$PREFIX" ] || is_root; }

default_python() {
  if [ -x /usr/bin/python3.11 ]; then echo /usr/bin/python3.11; else command -v python3.11 || command -v python3 || true; fi
}

# -- system packages ------------------------------------------------------------------

apt_packages() {
  awk '!/^[[:space:]]*(#|$)/ && $2 ~ /(^|,)user(,|$)/ {print $1}' "$HERE/apt-packages.txt"
}

missing_apt_packages() {
  local pkg
  for pkg in $(apt_packages); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$pkg"
  done
}

apt_step() {
  local missing
  [ "$APT" = 1 ] || { say "skipping system packages (--no-apt)"; return 0; }
  if ! command -v dpkg-query >/dev/null 2>&1; then
    note "not a Debian-like system: install the equivalents of: $(apt_packages | tr '\n' ' ')"
    note "for capture on Wayland desktops (GNOME, KDE Plasma 6, sway): Fedora: pipewire-gstreamer gstreamer1-plugins-base pipewire-utils; Arch: gst-plugin-pipewire gst-plugins-base (the desktop brings xdg-desktop-portal and its backend)"
    return 0
  fi
  missing="$(missing_apt_packages)"
  [ -n "$missing" ] || return 0
  if [ -n "$PREFIX" ]; then
    note "system packages are never installed with --prefix; missing here: ${missing% }"
  elif is_root; then
    act_run apt-get update -qq
    # shellcheck disable=SC2086
    act_run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  else
    root_todo "sudo apt-get install -y --no-install-recommends ${missing% }"
  fi
}

# -- v4l2loopback ---------------------------------------------------------------------

# etc_write PATH CONTENT: act_write where allowed, else the sudo command that does it.
etc_write() {
  if can_touch_etc; then act_write "$1" 644 "$2"; return 0; fi
  local line words=""
  [ -f "$1" ] && printf '%s\n' "$2" | cmp -s - "$1" && return 0
  while IFS= read -r line; do words="$words $(sh_quote "$line")"; done <<<"$2"
  root_todo "printf '%s\\n'$words | sudo tee $1 >/dev/null"
}

etc_remove() {
  if can_touch_etc; then act_remove "$1"; elif [ -e "$1" ]; then root_todo "sudo rm -f $1"; fi
}

v4l2loopback_step() {
  etc_write "$MODPROBE_CONF" "# $VCAM_MARK: the vcam virtual camera.
$MODPROBE_OPTIONS"
  etc_write "$MODULES_LOAD_CONF" "# $VCAM_MARK: load the virtual camera at boot.
v4l2loopback"
  if [ -n "$PREFIX" ]; then
    say "not loading the module with --prefix (would run as root: modprobe v4l2loopback)"
  elif [ -d /sys/module/v4l2loopback ]; then
    grep -qE '^(Y|1)' /sys/module/v4l2loopback/parameters/exclusive_caps 2>/dev/null \
      || note "v4l2loopback is loaded without exclusive_caps=1, so Chrome will not list it; reload it when no program uses it: sudo modprobe -r v4l2loopback && sudo modprobe v4l2loopback"
  elif is_root; then
    act_run modprobe v4l2loopback
  else
    root_todo "sudo modprobe v4l2loopback"
  fi
}

# -- autostart -------------------------------------------------------------------------

# desktop_quote ARG: one argument of a desktop entry's Exec key (quoted only when needed).
desktop_quote() {
  local s="$1"
  case "$s" in *[!A-Za-z0-9_./+:@=-]*) ;; *) printf '%s' "$s"; return 0 ;; esac
  s="${s//\\/\\\\}" s="${s//\"/\\\"}" s="${s//\`/\\\`}" s="${s//\$/\\\$}"
  s="\"$s\"" s="${s//\\/\\\\}" s="${s//%/%%}"
  printf '%s' "$s"
}

# systemd_quote ARG: one argument of ExecStart (quoted only when needed).
systemd_quote() {
  local s="$1"
  case "$s" in *[!A-Za-z0-9_./+:@=-]*) ;; *) printf '%s' "$s"; return 0 ;; esac
  s="${s//\\/\\\\}" s="${s//\"/\\\"}" s="${s//%/%%}" s="${s//\$/\$\$}"
  printf '"%s"' "$s"
}

# exec_start: ExecStart's value. systemd refuses an executable path with characters such
# as quotes in it (spaces are fine), so such a path is handed to /bin/sh as an argument.
exec_start() {
  case "$VCAM_BIN" in
    *[!A-Za-z0-9_./+:@=\ -]*) printf '/bin/sh -c "exec \\"$$0\\" tray" %s' "$(systemd_quote "$VCAM_BIN")" ;;
    *) printf '%s tray' "$(systemd_quote "$VCAM_BIN")" ;;
  esac
}

# desktop_entry EXTRA: the launcher entry (menu) or, with X-GNOME-Autostart-enabled, the autostart entry.
desktop_entry() {
  cat <<EOF
# $VCAM_MARK (installer/linux/install.sh); removed by install.sh --uninstall.
[Desktop Entry]
Type=Application
Name=vcam
GenericName=Meeting audience analysis
Comment=Read the room while you present: an annotated virtual camera and a live engagement dashboard
Exec=$(desktop_quote "$VCAM_BIN") tray
Icon=camera-web
Terminal=false
StartupNotify=false
Categories=AudioVideo;Video;$1
EOF
}

systemd_unit() {
  cat <<EOF
# $VCAM_MARK (installer/linux/install.sh); removed by install.sh --uninstall.
[Unit]
Description=vcam: meeting audience analysis in the system tray
PartOf=graphical-session.target
After=graphical-session.target

[Service]
Type=simple
ExecStart=$(exec_start)
Restart=on-failure
RestartSec=5

[Install]
WantedBy=graphical-session.target
EOF
}

# user_systemctl ARGS...: systemctl --user, or what would be run when it cannot be.
user_systemctl() {
  if [ -n "$PREFIX" ] || [ "$DRY_RUN" = 1 ]; then say "would run: systemctl --user $*"; return 0; fi
  if command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1; then
    systemctl --user "$@" && changed "ran: systemctl --user $*" && return 0
  fi
  note "could not reach your systemd user session; run in your desktop session: systemctl --user $*"
}

unit_enabled() { [ -L "$UNIT_WANTS" ] || [ -e "$UNIT_WANTS" ]; }

# One way of starting at login at a time, or the tray would start twice:
#   xdg      ~/.config/autostart/vcam.desktop, which every XDG desktop runs (default)
#   systemd  the user unit, enabled: restarts vcam when it crashes; needs a desktop
#            that starts graphical-session.target (GNOME, KDE Plasma)
#   none     nothing starts vcam at login
autostart_step() {
  local unit_before=""
  [ -f "$UNIT_FILE" ] && unit_before="$(cat "$UNIT_FILE")"
  act_write_ours "$UNIT_FILE" 644 "$(systemd_unit)"
  [ "$unit_before" = "$(systemd_unit)" ] || user_systemctl daemon-reload
  if [ "$AUTOSTART" = xdg ]; then
    act_write_ours "$AUTOSTART_ENTRY" 644 "$(desktop_entry $'\n'X-GNOME-Autostart-enabled=true)"
  else
    act_remove_ours "$AUTOSTART_ENTRY"
  fi
  if [ "$AUTOSTART" = systemd ]; then
    unit_enabled || user_systemctl enable "$UNIT"
  else
    ! unit_enabled || user_systemctl disable "$UNIT"
  fi
}

# -- install and uninstall ------------------------------------------------------------

install_main() {
  PYTHON="${PYTHON:-$(default_python)}"
  check_python "$PYTHON"
  [ -z "$PACKAGES_FROM" ] || check_packages_from "$PACKAGES_FROM" "$PYTHON"
  apt_step
  v4l2loopback_step
  venv_setup "$VENV" "$PYTHON" "$PACKAGES_FROM"
  act_remove "$APP"  # the copy of the checkout an earlier installer installed editable; vcam is a wheel now
  act_write_ours "$LAUNCHER" 755 "$(launcher "$VCAM_BIN")"
  act_write_ours "$MENU_ENTRY" 644 "$(desktop_entry "")"
  autostart_step
  case ":$PATH:" in *":$(dirname "$LAUNCHER"):"*) ;; *) [ -n "$PREFIX" ] || note "$(dirname "$LAUNCHER") is not on your PATH; add it, or run $LAUNCHER" ;; esac
  [ "$DRY_RUN" = 1 ] || say "installed; check this machine with: $LAUNCHER doctor"
}

uninstall_main() {
  ask_to_quit "$VENV"
  if [ -f "$UNIT_FILE" ]; then
    user_systemctl disable --now "$UNIT"
    act_remove "$UNIT_WANTS"
    act_remove_ours "$UNIT_FILE"
    user_systemctl daemon-reload
  fi
  act_remove_ours "$AUTOSTART_ENTRY"
  act_remove_ours "$MENU_ENTRY"
  act_remove_ours "$LAUNCHER"
  act_remove "$VENV"
  act_remove "$APP"
  etc_remove "$MODPROBE_CONF"
  etc_remove "$MODULES_LOAD_CONF"
  if [ "$PURGE" = 1 ]; then
    act_remove "$DATA_DIR"; act_remove "$CONFIG_DIR"; act_remove "$CACHE_DIR"; act_remove "$STATE_DIR"
  else
    act_rmdir_if_empty "$DATA_DIR"
    [ ! -d "$DATA_DIR" ] && [ ! -d "$CONFIG_DIR" ] \
      || say "kept your gallery, sessions, downloaded models and settings in $DATA_DIR and $CONFIG_DIR (--purge-data deletes them)"
  fi
  note "system packages stay installed (other programs may use them); to remove the camera module too: sudo apt-get remove v4l2loopback-dkms"
}

main() {
  parse_args "$@"
  if is_root && [ -n "${SUDO_USER:-}" ] && [ -z "$PREFIX" ]; then
    die "run install.sh as yourself, without sudo: vcam installs into your home, and the steps that need root are printed for you"
  fi
  set_paths
  if [ "$UNINSTALL" = 1 ]; then uninstall_main; else install_main; fi
  finish
}

main "$@"
