#!/usr/bin/env bash
# Writes the disk image of Mica's minimal file system (docs/fs.md) that user/tests/fstest.c
# reads through user/servers/fsserver.c: a superblock with a file table in block 0, then the
# files, each in whole 4 KiB blocks, contiguous, the tail of the last block zero.
#
# usage: tools/make-fsimage.sh FILE
#
# Every file's bytes follow one rule, so that a reader can check each byte: the file is a run
# of 16-byte records, record k being the file's tag letter, k in 14 lowercase hex digits and
# a newline ("r00000000000000\n", "r00000000000001\n", ...), cut at the file's length. The
# table below is the one fstest.c expects (keep them in step).
#
# The image is cut kMissing blocks short of what the superblock says, as a damaged disk would
# be: the last file, "truncated", has only its first blocks on it, so that the server's
# answer to a failed read can be tested.
set -euo pipefail
[ $# -eq 1 ] || { sed -n '6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
img=$1

kBlock=4096
kEntry=64       # bytes per file table entry, from offset 64 of block 0
kNameField=48   # the name field of an entry: 1..47 characters and at least one NUL
kMissing=4      # blocks of "truncated" past the end of the image

#       name                                              tag length  writable
files=(
  "readme                                            r 12345   0"  # not a page multiple
  "empty                                             e 0       0"  # no block at all
  "cluster                                           c 163840  0"  # 40 pages: 16 + 16 + 8
  "big                                               b 6291456 0"  # 6 MiB, 1536 pages
  "rw                                                w 12388   1"  # written through a mapping
  "shared                                            s 32768   1"  # mapped by two tasks
  "scratch                                           x 20000   1"  # fs_write_file
  "n2345678901234567890123456789012345678901234567   n 100     0"  # the longest name: 47
  "truncated                                         t 32768   1"  # 8 blocks, 4 on the disk
)

# VALUE BYTES: VALUE in BYTES little-endian bytes, as printf %b escapes.
le() {
  local v=$1 n=$2 s= i
  for ((i = 0; i < n; i++)); do s+=$(printf '\\x%02x' $(((v >> (8 * i)) & 255))); done
  printf '%s' "$s"
}

# OFFSET: writes stdin into the image at byte OFFSET, leaving the rest as it is.
put() { dd of="$img.tmp" bs=1 seek="$1" conv=notrunc status=none; }

mkdir -p "$(dirname "$img")"
rm -f "$img.tmp"
: > "$img.tmp"

block=1  # the next free block
i=0
for f in "${files[@]}"; do
  read -r name tag length writable <<< "$f"
  [ ${#name} -lt $kNameField ] || { echo "make-fsimage.sh: name too long: $name" >&2; exit 1; }
  blocks=$(((length + kBlock - 1) / kBlock))
  # The entry: name (NUL-padded), first block, flags (bit 0: writable), length.
  entry=$((64 + i * kEntry))
  printf '%s' "$name" | put "$entry"
  printf '%b' "$(le "$block" 4)$(le "$writable" 4)$(le "$length" 8)" | put $((entry + kNameField))
  # The data: records cut at the length (awk stops by itself, so no pipe is cut short).
  if [ "$length" -gt 0 ]; then
    awk -v t="$tag" -v len="$length" 'BEGIN {
      for (k = 0; 16 * k < len; k++) {
        r = sprintf("%s%014x\n", t, k)
        if (16 * k + 16 > len) r = substr(r, 1, len - 16 * k)
        printf "%s", r
      }
    }' | dd of="$img.tmp" bs=$kBlock seek="$block" conv=notrunc status=none
  fi
  block=$((block + blocks))
  i=$((i + 1))
done

# The superblock's head: magic, version 1, block size, blocks in the image, files.
printf '%b' "MICAFS01$(le 1 4)$(le $kBlock 4)$(le $block 4)$(le $i 4)" | put 0
truncate -s $(((block - kMissing) * kBlock)) "$img.tmp"  # zero tails; cut short
mv "$img.tmp" "$img"
