#!/usr/bin/env bash
# Writes a raw disk image of SECTORS 512-byte sectors in which sector N holds the text
# "mica sector N" padded with spaces and ended by a newline: the known pattern that
# user/tests/devtest.c reads back (tests/system/CMakeLists.txt makes one before each boot).
#
# usage: tools/make-disk.sh FILE SECTORS
set -euo pipefail
[ $# -eq 2 ] || { sed -n '6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
file=$1 sectors=$2
mkdir -p "$(dirname "$file")"
for ((i = 0; i < sectors; i++)); do
  printf '%-511s\n' "mica sector $i"
done > "$file.tmp"
mv "$file.tmp" "$file"
