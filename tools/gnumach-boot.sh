#!/usr/bin/env bash
# Boots a module on the real GNU Mach x86_64 (Debian trixie's gnumach-image-1.8-amd64-up), to
# check that a conformance test means what GNU Mach means.
#
# usage: tools/gnumach-boot.sh BUILD 'MODULE [ARGS]' [boot.sh options]
#
# The kernel package is downloaded once, as a .deb, through a private apt state under
# BUILD/peers/gnumach (tools/debian-fetch.sh, as tools/fetch-abi.sh does; nothing is installed
# and the system's apt lists are not touched), and unpacked there. The module boots from a
# GRUB ISO in GNU Mach's grub.cfg form (tools/boot.sh --iso): QEMU's own loader refuses GNU
# Mach's ELF64 image.
# GNU Mach prints through mach_print (the Debian kernel has KDB). A module ends the boot with
# host_reboot(host_priv, 0); QEMU runs with -no-reboot, so it exits with status 0 (boot.sh
# then notes "QEMU reset or powered off": with GNU Mach that is the normal end).
set -euo pipefail -f

usage() { sed -n '5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
build=$1 module=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/peers/gnumach"
dest=$(cd "$build/peers/gnumach" && pwd)
kernel=$dest/gnumach

if [ ! -f "$kernel" ]; then
  pkg=gnumach-image-1.8-amd64-up
  want=1.8+git20250702
  "$here/debian-fetch.sh" "$dest" trixie "$pkg"
  version=$(awk -v p="$pkg" '$1 == p {print $2}' "$dest/VERSIONS")
  case $version in *"$want"*) ;; *) echo "warning: $pkg is $version, not $want" >&2 ;; esac
  zcat "$dest/root/boot/gnumach-1.8-amd64-up.gz" > "$kernel.tmp"
  mv "$kernel.tmp" "$kernel"
  echo "$pkg $version" > "$dest/VERSION"
fi

# Defaults first, so that the caller's options override them (boot.sh takes the last one).
exec "$here/boot.sh" --mem 256 --timeout 120 "$@" --iso "$kernel" "$module"
