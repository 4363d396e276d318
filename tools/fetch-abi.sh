#!/usr/bin/env bash
# Fetch the Mach ABI Mica speaks: Debian trixie's gnumach-dev (headers, .defs) and
# mig-x86-64-gnu (GNU MIG), downloaded as .debs through a private apt state and unpacked
# with dpkg-deb -x (tools/debian-fetch.sh). The system's apt configuration and lists are not
# touched.
# Usage: tools/fetch-abi.sh DEST      (DEST/root gets the unpacked tree, DEST/VERSIONS the versions)
set -euo pipefail
dest=${1:?usage: fetch-abi.sh DEST}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
[ -e "$dest/root/.done" ] && exit 0

pkgs=(gnumach-dev mig-x86-64-gnu)
want_gnumach=1.8+git20250702
want_mig=1.8+git20231217
"$(dirname "$0")/debian-fetch.sh" "$dest" trixie "${pkgs[@]}"
# The ABI is pinned: a different trixie upload would need a look before Mica follows it.
grep -q "^gnumach-dev [0-9]*:*$want_gnumach" "$dest/VERSIONS" || echo "warning: gnumach-dev is not $want_gnumach" >&2
grep -q "^mig-x86-64-gnu $want_mig" "$dest/VERSIONS" || echo "warning: mig-x86-64-gnu is not $want_mig" >&2
touch "$dest/root/.done"
cat "$dest/VERSIONS"
