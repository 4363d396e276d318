#!/usr/bin/env bash
# Makes the Linux peer's initramfs with a disk benchmark (docs/benchmarks.md): the peer's own
# (../shared/peers/linux-qemu, copied to BUILD_DIR/peers/ and built there, as tools/bench.sh
# does), with a second cpio archive appended. That archive keeps the peer's bench program as
# /bin/peer_bench and puts in its place a /bin/bench that runs it, then loads the virtio disk
# driver and runs user/bench/linux_disk.c (O_DIRECT pwrite/pread on /dev/vda). Prints the
# initramfs's path. The peer's init.sh and run.sh are used unchanged:
#
# usage: tools/linux-peer-disk.sh BUILD_DIR
#   truncate -s 64M disk.img
#   (cd BUILD_DIR/peers/linux-qemu && INITRD=<printed path> QEMU_EXTRA="-drive \
#     file=disk.img,format=raw,if=none,id=disk0,cache=unsafe -device \
#     virtio-blk-pci,drive=disk0,addr=0x8" ./run.sh -s 1 [-a '-o disk'])
#
# (-a '-o disk' skips the peer's own lines: no name starts with "disk".) With -a paging and
# -m 64M (and a 320 MiB disk), /bin/bench makes the disk the swap area and runs only the paging
# line of linux_disk.c, as Mica's (tools/bench.sh, --paging). The disk options are
# those tools/boot.sh gives Mica's disks. The peer's Debian kernel has virtio, virtio_pci and
# virtio_blk as modules, and its initramfs has none: the script downloads the same kernel
# package again (apt-get download, as the peer's build.sh does) and keeps the modules it needs
# under BUILD_DIR/peers/linux-qemu/kernel/modules/. Nothing under ../shared is written.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS_SRC=${MICA_PEERS:-$ROOT/../shared/peers}
usage() { sed -n '9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 1 ] || usage
BUILD=$(cd "$1" && pwd)
note() { echo "linux-peer-disk: $*" >&2; }

dir=$BUILD/peers/linux-qemu
if [ ! -d "$dir" ]; then
  mkdir -p "$BUILD/peers"
  cp -r "$PEERS_SRC/linux-qemu" "$dir" && chmod -R u+w "$dir"
fi
if [ ! -s "$dir/out/initramfs.cpio.gz" ] || [ ! -s "$dir/kernel/vmlinuz" ]; then
  deps=; [ "$(id -u)" -eq 0 ] && deps=--deps
  (cd "$dir" && ./build.sh $deps) >&2
fi

# ---- The virtio modules of the peer's kernel ----
mods=$dir/kernel/modules
if [ ! -s "$mods/order" ]; then
  deb=$(cat "$dir/kernel/VERSION")          # linux-image-6.1.0-NN-amd64_..._amd64.deb
  pkg=${deb%%_*}
  case $pkg in linux-image-*) ;; *) note "the peer's kernel is $deb, not a Debian package"; exit 1 ;; esac
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  note "fetching $pkg for its virtio modules"
  (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || { note "apt-get download $pkg failed"; exit 1; }
  mkdir -p "$tmp/x"
  dpkg-deb --fsys-tarfile "$tmp"/*.deb |
    tar -x -C "$tmp/x" --wildcards './lib/modules/*/kernel/drivers/virtio/*' \
        './lib/modules/*/kernel/drivers/block/virtio_blk.ko*'
  kdir=$(echo "$tmp"/x/lib/modules/*/kernel/drivers)
  # The package has no modules.dep (depmod makes it at install): each module's "depends="
  # (its .modinfo section) names what must be loaded before it.
  file_of() { find "$kdir" -name "$1.ko*" | head -1; }
  unpacked() {
    case $1 in
      *.xz) xz -dc "$1" ;;
      *.zst) zstd -dcq "$1" ;;
      *.gz) zcat "$1" ;;
      *) cat "$1" ;;
    esac
  }
  order=()
  add() {
    local m=$1 d f deps
    for d in "${order[@]}"; do [ "$d" = "$m" ] && return; done
    f=$(file_of "$m")
    [ -n "$f" ] || { note "no module $m in $pkg"; exit 1; }
    deps=$(unpacked "$f" | tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' ' ')
    for d in $deps; do add "$d"; done
    order+=("$m")
  }
  add virtio_pci
  add virtio_blk
  mkdir -p "$mods"
  : > "$mods/order.tmp"
  for m in "${order[@]}"; do
    unpacked "$(file_of "$m")" > "$mods/$m.ko"
    echo "$m.ko" >> "$mods/order.tmp"
  done
  mv "$mods/order.tmp" "$mods/order"
  rm -rf "$tmp"; trap - EXIT
fi

# ---- The initramfs: the peer's, then ours on top ----
out=$BUILD/peers/linux-disk
mkdir -p "$out"
gcc -O2 -static -Wall -Wextra -o "$out/linux_disk" "$ROOT/user/bench/linux_disk.c"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/lib/modules"
cp "$out/linux_disk" "$root/bin/linux_disk"
cp "$dir/out/bench" "$root/bin/peer_bench"
while read -r m; do cp "$mods/$m" "$root/lib/modules/$m"; done < "$mods/order"
{
  echo '#!/bin/sh'
  echo '# tools/linux-peer-disk.sh: the peer'"'"'s benchmarks, then the virtio disk driver and the disk'
  echo '# one; with the argument "paging", only the paging one, with the disk as swap.'
  echo 'case " $* " in *" paging "*) paging=1 ;; *) paging=0; /bin/peer_bench "$@" ;; esac; rc=$?'
  while read -r m; do echo "insmod /lib/modules/$m || echo '# insmod $m failed'"; done < "$mods/order"
  echo 'if [ $paging = 1 ]; then'
  echo '  for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done'
  echo '  mkswap /dev/vda > /dev/null && swapon /dev/vda || echo "# swapon /dev/vda failed"'
  echo '  echo "# $(grep -E "MemTotal|MemFree|SwapTotal" /proc/meminfo | tr -s " " | tr "\n" " ")"'
  echo '  exec /bin/linux_disk -P 128'
  echo 'fi'
  echo '/bin/linux_disk || rc=1'
  echo 'exit $rc'
} > "$root/bin/bench"
chmod 755 "$root/bin/bench" "$root/bin/linux_disk" "$root/bin/peer_bench"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 > "$out/overlay.cpio.gz"
cat "$dir/out/initramfs.cpio.gz" "$out/overlay.cpio.gz" > "$out/initramfs.cpio.gz"

echo "$out/initramfs.cpio.gz"
