#!/usr/bin/env bash
# Builds (or reuses) an emulated Debian 12 root filesystem for one device architecture, with
# Debian's Node.js 18 and npm inside, and mounts what a program in it needs. Needs root,
# debootstrap, qemu-user-static and binfmt-support (installed here when missing).
#
#   scripts/devices/rootfs.sh [--npm] arm64|armhf   prints the root folder on its last line
#   scripts/devices/rootfs.sh --umount arm64         unmounts (the tree stays cached)
#
# --npm also installs Debian's npm (about 300 more packages: many minutes under emulation), for
# installing inside the image the way a user does; without it the image has Node.js only.
#
# The tree is cached in $EDGEML_DEVICES_CACHE (default <project>/.cache/devices/<arch>); a stamp
# file marks each finished step, so an interrupted build resumes and a finished one costs nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
project="$(cd "$here/../.." && pwd)"
cache="${EDGEML_DEVICES_CACHE:-$project/.cache/devices}"
mirror="${EDGEML_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

umount_only=0
with_npm=0
while [ $# -gt 1 ]; do
  case "$1" in
    --umount) umount_only=1 ;;
    --npm) with_npm=1 ;;
    *) break ;;
  esac
  shift
done
arch="${1:?usage: rootfs.sh [--umount] arm64|armhf}"
case "$arch" in
  arm64) qemu=qemu-aarch64 ;;
  armhf) qemu=qemu-arm ;;
  *) echo "rootfs.sh: unknown architecture $arch (arm64 or armhf)" >&2; exit 2 ;;
esac
root="$cache/$arch"

unmount() {
  for m in "$root/proc/cpuinfo" "$root/proc" "$root/dev/pts" "$root/dev" "$root/sys"; do
    if mountpoint -q "$m" 2>/dev/null; then umount -l "$m" || true; fi
  done
}
if [ "$umount_only" = 1 ]; then unmount; exit 0; fi

log() { echo "rootfs[$arch]: $*" >&2; }
[ "$(id -u)" = 0 ] || { echo "rootfs.sh: needs root (debootstrap, chroot, mount)" >&2; exit 2; }

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable "$qemu" >/dev/null 2>&1 || true
[ -e "/proc/sys/fs/binfmt_misc/$qemu" ] || { echo "rootfs.sh: binfmt handler $qemu is not registered" >&2; exit 1; }

mkdir -p "$cache"
if [ ! -e "$root/.edgeml-debootstrap" ]; then
  log "debootstrap bookworm ($mirror); a few minutes"
  rm -rf "$root"
  debootstrap --arch="$arch" --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" >"$cache/$arch-debootstrap.log" 2>&1 \
    || { tail -n 20 "$cache/$arch-debootstrap.log" >&2; exit 1; }
  touch "$root/.edgeml-debootstrap"
fi

# The mounts a program inside needs. qemu-user shows the emulated program the host's x86
# /proc/cpuinfo, on which ONNX Runtime's cpuinfo library crashes while libonnxruntime loads; a
# real device has an ARM one, so a Raspberry Pi 4 (Cortex-A72) style file is laid over it.
cp /etc/resolv.conf "$root/etc/resolv.conf"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/dev" || mount --rbind /dev "$root/dev"
mountpoint -q "$root/sys" || mount --rbind /sys "$root/sys"
cp "$here/cpuinfo-cortex-a72.txt" "$cache/$arch-cpuinfo"
mountpoint -q "$root/proc/cpuinfo" || mount --bind "$cache/$arch-cpuinfo" "$root/proc/cpuinfo"

inside() { chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive "$@"; }

# The host's own CA certificates (a TLS-inspecting proxy between this machine and the registry
# signs with one): npm inside checks the registry's certificate against the image's store, as on a
# device behind such a proxy. Repeated whenever the host's set changes.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  if ! diff -rq /usr/local/share/ca-certificates "$root/usr/local/share/ca-certificates" >/dev/null 2>&1; then
    log "adding the host's CA certificates (/usr/local/share/ca-certificates) to the image"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    inside update-ca-certificates >"$cache/$arch-ca.log" 2>&1 || { tail -n 20 "$cache/$arch-ca.log" >&2; exit 1; }
  fi
fi

if [ ! -e "$root/.edgeml-nodejs" ]; then
  log "apt-get install nodejs (Debian's Node.js 18)"
  inside sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs' >"$cache/$arch-nodejs.log" 2>&1 \
    || { tail -n 20 "$cache/$arch-nodejs.log" >&2; exit 1; }
  touch "$root/.edgeml-nodejs"
fi
if [ "$with_npm" = 1 ] && [ ! -e "$root/.edgeml-npm" ]; then
  log "apt-get install npm (Debian's npm 9; many minutes under emulation)"
  inside sh -c 'apt-get install -y -qq --no-install-recommends npm' >"$cache/$arch-npm.log" 2>&1 \
    || { tail -n 20 "$cache/$arch-npm.log" >&2; exit 1; }
  touch "$root/.edgeml-npm"
fi
log "Node.js $(inside node --version)$([ -e "$root/.edgeml-npm" ] && echo ", npm $(inside npm --version)")"
echo "$root"
