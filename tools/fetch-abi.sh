#!/usr/bin/env bash
# Fetch the Mach ABI Mica speaks: Debian trixie's gnumach-dev (headers, .defs) and
# mig-x86-64-gnu (GNU MIG), downloaded as .debs through a private apt state and unpacked
# with dpkg-deb -x. The system's apt configuration and lists are not touched.
# Usage: tools/fetch-abi.sh DEST      (DEST/root gets the unpacked tree, DEST/VERSIONS the versions)
set -euo pipefail
dest=${1:?usage: fetch-abi.sh DEST}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
[ -e "$dest/root/.done" ] && exit 0

pkgs=(gnumach-dev mig-x86-64-gnu)
want_gnumach=1.8+git20250702
want_mig=1.8+git20231217
apt="$dest/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$dest/debs"

# One deb822 stanza for trixie, from the machine's own mirror.
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
(cd "$dest/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download "${pkgs[@]}")
rm -rf "$dest/root"; mkdir -p "$dest/root"
: > "$dest/VERSIONS"
for d in "$dest"/debs/*.deb; do
  dpkg-deb -x "$d" "$dest/root"
  printf '%s %s\n' "$(dpkg-deb -f "$d" Package)" "$(dpkg-deb -f "$d" Version)" >> "$dest/VERSIONS"
done
# The ABI is pinned: a different trixie upload would need a look before Mica follows it.
grep -q "^gnumach-dev [0-9]*:*$want_gnumach" "$dest/VERSIONS" || echo "warning: gnumach-dev is not $want_gnumach" >&2
grep -q "^mig-x86-64-gnu $want_mig" "$dest/VERSIONS" || echo "warning: mig-x86-64-gnu is not $want_mig" >&2
touch "$dest/root/.done"
cat "$dest/VERSIONS"
