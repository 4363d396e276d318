#!/usr/bin/env bash
# Boots a module on the real GNU Mach x86_64 (Debian trixie's gnumach-image-1.8-amd64-up), to
# check that a conformance test means what GNU Mach means.
#
# usage: tools/gnumach-boot.sh BUILD 'MODULE [ARGS]' [boot.sh options]
#
# The kernel package is downloaded once, as a .deb, through a private apt state under
# BUILD/peers/gnumach (as tools/fetch-abi.sh does; nothing is installed and the system's apt
# lists are not touched), and unpacked there. The module boots from a GRUB ISO in GNU Mach's
# grub.cfg form (tools/boot.sh --iso): QEMU's own loader refuses GNU Mach's ELF64 image.
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
  apt="$dest/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$dest/debs"
  uri=
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  uri=${uri:-http://deb.debian.org/debian}
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  {
    echo "Types: deb"
    echo "URIs: $uri"
    echo "Suites: trixie"
    echo "Components: main"
    [ -f "$keyring" ] && echo "Signed-By: $keyring"
  } > "$apt/parts/trixie.sources"
  opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt/parts"
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache"
        -o Debug::NoLocking=1 -o APT::Architecture=amd64 -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 || { cat "$apt/update.log" >&2; exit 1; }
  # (set -f is on: no globs here)
  find "$dest/debs" -name '*.deb' -delete
  (cd "$dest/debs" && apt-get "${opts[@]}" download "$pkg")
  deb=$(find "$dest/debs" -name "${pkg}_*.deb" | head -n 1)
  version=$(dpkg-deb -f "$deb" Version)
  case $version in *"$want"*) ;; *) echo "warning: $pkg is $version, not $want" >&2 ;; esac
  rm -rf "$dest/root"; mkdir -p "$dest/root"
  dpkg-deb -x "$deb" "$dest/root"
  zcat "$dest/root/boot/gnumach-1.8-amd64-up.gz" > "$kernel.tmp"
  mv "$kernel.tmp" "$kernel"
  echo "$pkg $version" > "$dest/VERSION"
fi

# Defaults first, so that the caller's options override them (boot.sh takes the last one).
exec "$here/boot.sh" --mem 256 --timeout 120 "$@" --iso "$kernel" "$module"
