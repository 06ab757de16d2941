#!/usr/bin/env bash
# Installs lectern as a service on a Debian 12 kit, from this built checkout (run
# provisioning/bootstrap.sh first: it installs the system packages and builds). Idempotent: a
# second run leaves the same result.
#
#   sudo provisioning/install.sh                 # install into this machine
#   provisioning/install.sh --root /tmp/kitroot  # into a directory tree (an image, or a test)
#
# What it does (every path below is under --root, default /):
#   /opt/lectern/                          the built app (dist/, node_modules/, the launcher),
#                                          replaced as a whole so no stale file survives
#   /usr/local/bin/lectern                 the command, a link to /opt/lectern/agent/bin/lectern
#   /etc/systemd/system/lectern.service    the unit (Type=notify, watchdog, hardening)
#   /etc/udev/rules.d/99-lectern.rules     stable names for camera adapters, microphone access
#   user and group `lectern`               a system account, also in dialout audio video plugdev
#   /etc/lectern/                          config dir, root:lectern 0750 (`lectern provision`
#                                          writes config.json there)
#   /var/lib/lectern/                      not made here: systemd makes it (StateDirectory=)
# and enables the service. On this machine it also reloads systemd and udev, and starts the
# service when a config exists.
#
# With --root other than /, nothing on the running system is touched: accounts are added to
# ROOT/etc/passwd and ROOT/etc/group with useradd --prefix (only when ROOT/etc/passwd exists),
# and the service is enabled with systemctl --root (links only; no running systemd is asked).
#
# Options: --root DIR (or DESTDIR=DIR), --prefix DIR (default /opt/lectern), --no-start.
set -euo pipefail

root=${DESTDIR:-/}
prefix=/opt/lectern
start=yes
while (($#)); do
  case $1 in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --no-start) start=no; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
R=${root%/}
live=no
[[ -z $R ]] && live=yes
if [[ $live == no ]]; then
  [[ -d $R ]] || { echo "install.sh: --root $root is not a directory" >&2; exit 2; }
  R=$(cd "$R" && pwd)
fi
[[ $prefix == /* ]] || { echo "install.sh: --prefix must be absolute" >&2; exit 2; }
say() { echo "install.sh: $*"; }

for f in dist/agent/cli.js agent/bin/lectern package.json node_modules systemd/lectern.service systemd/99-lectern.rules; do
  [[ -e $src/$f ]] || { echo "install.sh: $src/$f is missing; run provisioning/bootstrap.sh (npm ci and the build) first" >&2; exit 1; }
done
if [[ $live == yes && $(id -u) -ne 0 ]]; then
  echo "install.sh: installing into this machine needs root (sudo)" >&2
  exit 1
fi

# --- the app: staged beside the old one, then swapped in whole -------------------------------
dest=$R$prefix
stage=$dest.new
rm -rf "$stage" "$dest.old"
mkdir -p "$stage/agent/bin" "$stage/provisioning" "$stage/systemd"
cp -a "$src/dist" "$src/node_modules" "$src/package.json" "$src/package-lock.json" "$src/README.md" "$stage/"
cp -a "$src/agent/bin/lectern" "$stage/agent/bin/"
cp -a "$src/provisioning/install.sh" "$src/provisioning/uninstall.sh" "$stage/provisioning/"
cp -a "$src/systemd/lectern.service" "$src/systemd/99-lectern.rules" "$stage/systemd/"
# The kit runs the agent, not the tests: leave the development packages behind (offline).
(cd "$stage" && npm prune --omit=dev --no-audit --no-fund --loglevel=error >/dev/null)
rm -rf "$stage/node_modules/.vite" "$stage/node_modules/.vite-temp" "$stage/node_modules/.cache"
# npm rewrites its lock summary on prune: give it the source's time so a rerun changes nothing.
[[ -f $stage/node_modules/.package-lock.json ]] && touch -r "$src/package-lock.json" "$stage/node_modules/.package-lock.json"
[[ $(id -u) -eq 0 ]] && chown -R 0:0 "$stage"
chmod -R go-w "$stage"
[[ -e $dest ]] && mv "$dest" "$dest.old"
mv "$stage" "$dest"
rm -rf "$dest.old"
say "app in $dest"

mkdir -p "$R/usr/local/bin"
ln -sfn "$prefix/agent/bin/lectern" "$R/usr/local/bin/lectern"

# --- unit and udev rules ---------------------------------------------------------------------
unit=$R/etc/systemd/system/lectern.service
install -D -m 0644 "$src/systemd/lectern.service" "$unit"
[[ $prefix != /opt/lectern ]] && sed -i "s#/opt/lectern/#$prefix/#g" "$unit"
install -D -m 0644 "$src/systemd/99-lectern.rules" "$R/etc/udev/rules.d/99-lectern.rules"
say "unit and udev rules installed"

# --- account ---------------------------------------------------------------------------------
groups_wanted=(dialout audio video plugdev)
has_user() { grep -q '^lectern:' "$R/etc/passwd" 2>/dev/null; }
in_group() { grep -Eq "^$1:[^:]*:[^:]*:(.*,)?lectern(,|$)" "$R/etc/group"; }
have_group() { grep -q "^$1:" "$R/etc/group" 2>/dev/null; }
prefix_args=()
[[ $live == no ]] && prefix_args=(--prefix "$R")
if [[ $live == no && ! -f $R/etc/passwd ]]; then
  say "no $R/etc/passwd: the lectern account is left to the image's first boot"
else
  if ! has_user; then
    useradd "${prefix_args[@]}" --system --user-group --home-dir /var/lib/lectern --no-create-home \
      --shell /usr/sbin/nologin --comment 'lectern classroom agent' lectern
    say "account lectern created"
  fi
  for g in "${groups_wanted[@]}"; do
    if have_group "$g" && ! in_group "$g"; then usermod "${prefix_args[@]}" -a -G "$g" lectern; fi
  done
fi

# --- config dir ------------------------------------------------------------------------------
gid=$(awk -F: '$1 == "lectern" { print $3 }' "$R/etc/group" 2>/dev/null || true)
install -d -m 0750 "$R/etc/lectern"
[[ -n $gid && $(id -u) -eq 0 ]] && chown "0:$gid" "$R/etc/lectern"
# A config written before the account existed is root's; the service must be able to read it.
if [[ -f $R/etc/lectern/config.json && -n $gid && $(id -u) -eq 0 ]]; then
  uid=$(awk -F: '$1 == "lectern" { print $3 }' "$R/etc/passwd")
  chown "$uid:$gid" "$R/etc/lectern/config.json"
  chmod 0600 "$R/etc/lectern/config.json"
fi

# --- enable ----------------------------------------------------------------------------------
if [[ $live == no ]]; then
  systemctl --root="$R" --quiet enable lectern.service
  say "enabled in $R (systemctl --root)"
elif [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  systemctl --quiet enable lectern.service
  if command -v udevadm >/dev/null; then
    udevadm control --reload-rules
    udevadm trigger --subsystem-match=tty --subsystem-match=sound
  fi
  if [[ $start == yes && -f /etc/lectern/config.json ]]; then
    systemctl restart lectern.service
    say "lectern restarted; systemctl status lectern / lectern status"
  else
    say "enabled; run \`sudo lectern provision\`, then \`sudo systemctl start lectern\`"
  fi
else
  systemctl --quiet enable lectern.service 2>/dev/null || say "systemd is not running here: enable lectern.service once it is"
fi
say "done"
