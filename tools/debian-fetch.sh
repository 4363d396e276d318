#!/usr/bin/env bash
# Downloads Debian packages as .debs through a private apt state and unpacks them, for
# tools/fetch-abi.sh (the Mach ABI) and tools/gnumach-boot.sh (the GNU Mach kernel). Nothing is
# installed, and the system's apt configuration and lists are not touched: the one source is
# SUITE main from the machine's own Debian mirror (deb.debian.org if it has none).
# Usage: tools/debian-fetch.sh DEST SUITE PACKAGE...
#   DEST/apt    the private apt state (DEST/apt/update.log: apt-get update's output)
#   DEST/debs   the .debs (only those of this run)
#   DEST/root   the packages unpacked with dpkg-deb -x (made afresh)
#   DEST/VERSIONS   one line "PACKAGE VERSION" per .deb
set -euo pipefail
[ $# -ge 3 ] || { sed -n '6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
dest=$1 suite=$2
shift 2
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
apt="$dest/apt"
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts" "$dest/debs"

# One deb822 stanza for the suite, from the machine's own mirror.
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
  echo "Suites: $suite"
  echo "Components: main"
  [ -f "$keyring" ] && echo "Signed-By: $keyring"
} > "$apt/parts/$suite.sources"

opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt/parts"
      -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache"
      -o Debug::NoLocking=1 -o APT::Architecture=amd64 -o APT::Sandbox::User=root)
apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 || { cat "$apt/update.log" >&2; exit 1; }
(cd "$dest/debs" && rm -f ./*.deb && apt-get "${opts[@]}" download "$@")
rm -rf "$dest/root"; mkdir -p "$dest/root"
: > "$dest/VERSIONS"
for d in "$dest"/debs/*.deb; do
  dpkg-deb -x "$d" "$dest/root"
  printf '%s %s\n' "$(dpkg-deb -f "$d" Package)" "$(dpkg-deb -f "$d" Version)" >> "$dest/VERSIONS"
done
