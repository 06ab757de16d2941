#!/usr/bin/env bash
# Removes what provisioning/install.sh installed: the service (stopped and disabled), the unit,
# the udev rules, the command and the app in /opt/lectern. The config (/etc/lectern), the data
# (/var/lib/lectern: state database, recordings not yet uploaded) and the `lectern` account are
# kept unless --purge is given.
#
#   sudo provisioning/uninstall.sh [--purge]
#   provisioning/uninstall.sh --root /tmp/kitroot [--purge]   # a directory tree, as install.sh
#
# Options: --root DIR (or DESTDIR=DIR), --prefix DIR (default /opt/lectern), --purge.
set -euo pipefail

root=${DESTDIR:-/}
prefix=/opt/lectern
purge=no
while (($#)); do
  case $1 in
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --purge) purge=yes; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "uninstall.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

R=${root%/}
live=no
[[ -z $R ]] && live=yes
if [[ $live == no ]]; then
  [[ -d $R ]] || { echo "uninstall.sh: --root $root is not a directory" >&2; exit 2; }
  R=$(cd "$R" && pwd)
elif [[ $(id -u) -ne 0 ]]; then
  echo "uninstall.sh: needs root (sudo)" >&2
  exit 1
fi
say() { echo "uninstall.sh: $*"; }

if [[ -f $R/etc/systemd/system/lectern.service ]]; then
  if [[ $live == no ]]; then
    systemctl --root="$R" --quiet disable lectern.service
  elif [[ -d /run/systemd/system ]]; then
    systemctl --quiet disable --now lectern.service || true
  fi
fi
rm -f "$R/etc/systemd/system/lectern.service" "$R/etc/udev/rules.d/99-lectern.rules"
# The command only if it is ours.
if [[ -L $R/usr/local/bin/lectern && $(readlink "$R/usr/local/bin/lectern") == "$prefix/agent/bin/lectern" ]]; then
  rm -f "$R/usr/local/bin/lectern"
fi
rm -rf "${R:?}$prefix" "$R$prefix.new" "$R$prefix.old"
if [[ $live == yes && -d /run/systemd/system ]]; then
  systemctl daemon-reload
  command -v udevadm >/dev/null && udevadm control --reload-rules
fi
say "service, unit, udev rules and $prefix removed"

if [[ $purge == yes ]]; then
  # StateDirectory= may have made /var/lib/private/lectern with a link at /var/lib/lectern.
  rm -rf "$R/etc/lectern" "$R/var/lib/lectern" "$R/var/lib/private/lectern"
  if grep -q '^lectern:' "$R/etc/passwd" 2>/dev/null; then
    if [[ $live == no ]]; then userdel --prefix "$R" lectern; else userdel lectern; fi
  fi
  # userdel removes the user's own group only where login.defs says USERGROUPS_ENAB yes.
  if grep -q '^lectern:' "$R/etc/group" 2>/dev/null; then
    if [[ $live == no ]]; then groupdel --prefix "$R" lectern; else groupdel lectern; fi
  fi
  say "purged: /etc/lectern, /var/lib/lectern and the lectern account"
else
  say "kept /etc/lectern, /var/lib/lectern and the lectern account (--purge removes them)"
fi
