#!/usr/bin/env bash
# Write the kernel's function symbol table as assembly: pairs (address, name offset) sorted
# by address, a zero terminator, then the names. Used by the panic backtrace.
set -euo pipefail
elf=$1 out=$2
nm -n -C --defined-only "$elf" | awk 'BEGIN { n = 0 } $2 ~ /^[tTwW]$/ && $1 ~ /^ffffffff8/ {
    addr[n] = $1; $1 = ""; $2 = ""; sub(/^  /, ""); name[n++] = $0 }
  END {
    print "        .section .ksyms, \"a\""
    print "        .balign 8"
    off = 0
    for (i = 0; i < n; i++) { printf "        .quad 0x%s, %d\n", addr[i], off; off += length(name[i]) + 1 }
    print "        .quad 0, 0"
    for (i = 0; i < n; i++) { gsub(/\\/, "\\\\", name[i]); gsub(/"/, "\\\"", name[i]); printf "        .asciz \"%s\"\n", name[i] }
  }' > "$out.tmp"
mv "$out.tmp" "$out"
