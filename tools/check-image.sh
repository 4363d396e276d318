#!/usr/bin/env bash
# Check the flat image against its Multiboot header: the header must lie in the first 8 KiB,
# and the file must be exactly load_end_addr - load_addr bytes long.
set -euo pipefail
elf=$1 img=$2
sym() { nm "$elf" | awk -v s="$1" '$3 == s { print $1 }'; }
start=0x$(sym __kernel_phys_start) hdr=0x$(sym mb_header) end=0x$(sym __load_end_phys)
(( hdr - start < 8192 )) || { echo "multiboot header not in the first 8 KiB" >&2; exit 1; }
size=$(stat -c %s "$img")
(( size == end - start )) || { echo "image is $size bytes, header says $((end - start))" >&2; exit 1; }
