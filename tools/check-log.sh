#!/usr/bin/env bash
# Checks a boot log (tools/boot.sh --log) for the system tests.
#
# usage: tools/check-log.sh LOG CHECK... [-- COMMAND...]
#   --line TEXT       a line equal to TEXT
#   --regex ERE       a line matching ERE (grep -E; anchor it with ^ and $ as needed)
#   --absent ERE      no line matches ERE
#   --order ERE1 ERE2 a line matching ERE2 comes after the first line matching ERE1
# With -- COMMAND, LOG is deleted, COMMAND runs (its status is ignored: the log is what
# counts), then the checks run. Carriage returns are ignored. Exits 1 at the first failed
# check, saying which.
set -euo pipefail

log=${1:?usage: check-log.sh LOG CHECK... [-- COMMAND...]}
shift
checks=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  checks+=("$1")
  shift
done
if [ $# -gt 0 ]; then
  shift
  rm -f "$log"
  "$@" || true
fi
[ -f "$log" ] || { echo "check-log: no log $log" >&2; exit 1; }

text=$(tr -d '\r' < "$log")
fail() { echo "check-log: $log: $*" >&2; exit 1; }
has() { grep "$@" >/dev/null <<< "$text"; }

set -- "${checks[@]}"
while [ $# -gt 0 ]; do
  case $1 in
    --line) has -xF -- "$2" || fail "no line '$2'"; shift 2 ;;
    --regex) has -E -- "$2" || fail "no line matching '$2'"; shift 2 ;;
    --absent) ! has -E -- "$2" || fail "a line matches '$2': $(grep -E -m1 -- "$2" <<< "$text")"
              shift 2 ;;
    --order)
      first=$(grep -nE -m1 -- "$2" <<< "$text" | cut -d: -f1) || fail "no line matching '$2'"
      tail -n "+$((first + 1))" <<< "$text" | grep -E -- "$3" >/dev/null ||
        fail "no line matching '$3' after the line matching '$2'"
      shift 3 ;;
    *) echo "check-log: unknown check $1" >&2; exit 2 ;;
  esac
done
echo "check-log: $log: all checks passed"
