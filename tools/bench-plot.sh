#!/usr/bin/env bash
# Draws the issue 6 figures of a tools/bench.sh run as SVG bar charts (gnuplot; installed from
# Debian if missing): the external pager fault and vm_map of a memory object (µs, the three
# kernels), and the disk and paging throughput (MB/s, Mica and Linux). Medians over the runs of
# BUILD_DIR/bench/raw.txt (or of RAW_FILE, such lines concatenated), as bench.sh's tables.
#
# usage: tools/bench-plot.sh BUILD_DIR|RAW_FILE OUT_DIR
#
# Writes OUT_DIR/bench-pager.svg and OUT_DIR/bench-disk.svg (docs/ keeps the committed ones).
set -euo pipefail
usage() { sed -n '7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 2 ] || usage
raw=$1 out=$2
[ -d "$raw" ] && raw=$raw/bench/raw.txt
[ -s "$raw" ] || { echo "bench-plot: no $raw (run tools/bench.sh first)" >&2; exit 2; }
mkdir -p "$out"
if ! command -v gnuplot > /dev/null; then
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq gnuplot-nox > /dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# data FILE SPEC...: one line per SPEC "label|kernel name|kernel name|...": the label, then the
# median of each kernel's line (in the unit given, "-" if missing).
data() {
  local file=$1; shift
  printf '%s\n' "$@" | awk -v raw="$raw" '
    BEGIN {
      while ((getline l < raw) > 0) {
        split(l, f, " ")
        x = f[3] * (f[4] == "us" ? 1000 : f[4] == "ms" ? 1000000 : 1)
        v[f[1] " " f[2]] = v[f[1] " " f[2]] " " x
      }
    }
    function med(k,   a, m, i, j, t) {
      if (!(k in v)) return "-"
      m = split(substr(v[k], 2), a, " ")
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    {
      n = split($0, f, "|")
      line = "\"" f[1] "\""
      for (i = 2; i <= n; i++) { x = med(f[i]); line = line " " (x == "-" ? "-" : x / scale) }
      print line
    }' scale="${SCALE:-1}" > "$file"
}

SCALE=1000 data "$tmp/pager.dat" \
  "read fault, pager\\nthread (per page)|mica external_pager_fault_read_per_page|gnumach external_pager_fault_read_per_page|linux uffd_copy_fault" \
  "the same, GNU\\nMach's module|mica_peer external_pager_fault_read_per_page|gnumach external_pager_fault_read_per_page|-" \
  "read fault, 1 page\\nper request|mica external_pager_fault_one_page_per_request|gnumach_own external_pager_fault_one_page_per_request|linux uffd_copy_fault" \
  "vm_map 8 MiB,\\nfirst|mica vm_map_memory_object_8MiB|gnumach vm_map_memory_object_8MiB|-" \
  "vm_map 8 MiB,\\nobject mapped|mica vm_map_memory_object_warm|gnumach_own vm_map_memory_object_warm|-" \
  "its vm_deallocate|mica vm_deallocate_memory_object_warm|gnumach_own vm_deallocate_memory_object_warm|-" \
  "vm_map + dealloc,\\ninit + terminate|mica vm_map_deallocate_memory_object_cold|gnumach_own vm_map_deallocate_memory_object_cold|-"
data "$tmp/disk.dat" \
  "write, 64 KiB|mica disk_write_64k|linux disk_write_64k" \
  "read, 64 KiB|mica disk_read_64k|linux disk_read_64k" \
  "write, 4 KiB|mica disk_write_4k|linux disk_write_4k" \
  "read, 4 KiB|mica disk_read_4k|linux disk_read_4k" \
  "paging: write\\n128 MiB|mica paging_write_128m|linux paging_write_128m" \
  "paging: read\\nit back|mica paging_read_back_128m|linux paging_read_back_128m"

common='set terminal svg size 960,480 dynamic font "sans,12" noenhanced
set bmargin 4
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set datafile missing "-"
set key outside top center horizontal
set grid ytics
set xtics nomirror scale 0
set boxwidth 0.9'
gnuplot <<EOF
$common
set output "$out/bench-pager.svg"
set title "Issue 6: external pager fault and vm_map of a memory object (median, QEMU TCG, 1 CPU)"
set ylabel "µs (log scale; lower is better)"
set logscale y
plot "$tmp/pager.dat" using 2:xtic(1) title "Mica", '' using 3 title "GNU Mach", '' using 4 title "Linux (userfaultfd)"
EOF
gnuplot <<EOF
$common
set output "$out/bench-disk.svg"
set title "Issue 6: raw virtio disk throughput from a user task (16 MiB a pass), and paging 128 MiB (median)"
set ylabel "MB/s (log scale; higher is better)"
set logscale y
plot "$tmp/disk.dat" using 2:xtic(1) title "Mica (device_write / device_read)", '' using 3 title "Linux (O_DIRECT pwrite / pread)"
EOF
echo "bench-plot: $out/bench-pager.svg $out/bench-disk.svg"
