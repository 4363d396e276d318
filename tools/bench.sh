#!/usr/bin/env bash
# Runs Mica's benchmark module and, unless --no-peers, the same measurements on the GNU Mach
# and Linux peers (../shared/peers), then prints a comparison table. See docs/benchmarks.md.
#
# usage: tools/bench.sh BUILD_DIR [--runs N] [--no-peers] [--no-paging]
#
# Builds nothing of Mica (./mica bench builds first). Every kernel boots N times (default 3)
# under QEMU TCG with one CPU; the table gives the median over the runs. Output, raw lines and
# logs go to BUILD_DIR/bench/; the tables also go to BUILD_DIR/bench/results.txt.
# The peers are copied to BUILD_DIR/peers/ and built there on first use (they download Debian
# packages), so the shared tree is never written. Besides the peers' own modules, Mica's
# module runs its pager and vmmap groups on GNU Mach (tools/gnumach-boot.sh), and the Linux
# peer gets a disk and user/bench/linux_disk.c (tools/linux-peer-disk.sh).
# The paging lines boot each kernel again with little memory and a swap disk (Mica: 64 MiB and
# the default pager; Linux: 120 MiB, swapon) to write 128 MiB and read it back; --no-paging
# leaves them out.
# TSC_MHZ=F overrides the TSC rate given to the module (default: the host's /proc/cpuinfo;
# under TCG the guest TSC runs at the host's rate).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS_SRC=${MICA_PEERS:-$ROOT/../shared/peers}

usage() { sed -n '5p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
BUILD=$(cd "$1" && pwd); shift
runs=3 peers=1 paging=1
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?}; shift 2 ;;
    --no-peers) peers=0; shift ;;
    --no-paging) paging=0; shift ;;
    *) usage ;;
  esac
done
OUT=$BUILD/bench
mkdir -p "$OUT"
RAW=$OUT/raw.txt            # "kernel name value unit", one line per result of one run
: > "$RAW"
note() { echo "bench: $*" >&2; }
results() { grep -E '^[A-Za-z_0-9]+ [0-9.]+ [A-Za-z/]+$' || true; }

# ---- Mica ----
kernel=$BUILD/kernel/mica module=$BUILD/user/bench
[ -f "$kernel" ] && [ -f "$module" ] || { note "build first: $kernel or $module missing"; exit 2; }
tsc_mhz=${TSC_MHZ:-$(awk -F: '/^cpu MHz/ {gsub(/ /, "", $2); print $2; exit}' /proc/cpuinfo)}
words="\${host-port} \${device-port} \$(task-create) \$(task-resume)"
disk=$OUT/disk.img
for r in $(seq "$runs"); do
  log=$OUT/mica-run-$r.log
  rm -f "$disk"; truncate -s 32M "$disk"   # a scratch disk for the disk lines (vd0)
  # 1 GiB, as the peers (GNU Mach -m 1024, Linux 1G): the VM lines hold up to 80 MiB at once.
  "$ROOT/tools/boot.sh" --smp 1 --mem 1024 --timeout 300 --log "$log" --disk "$disk" "$kernel" \
      "$module tsc_mhz=$tsc_mhz $words" > /dev/null 2>&1 || true
  tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"
  grep -q '^bench-done' "$log" || { note "Mica run $r did not finish; tail of $log:"; tail -20 "$log" >&2; exit 1; }
  sed -n '/^bench-start/,/^bench-done/p' "$log" | results | sed 's/^/mica /' >> "$RAW"
done
if [ "$paging" = 1 ]; then
  # Anonymous memory through the default pager: 128 MiB in 64 MiB, a 320 MiB swap disk.
  for r in $(seq "$runs"); do
    log=$OUT/mica-paging-$r.log
    rm -f "$disk"; truncate -s 320M "$disk"
    "$ROOT/tools/boot.sh" --smp 1 --mem 64 --timeout 300 --log "$log" --disk "$disk" "$kernel" \
        "$BUILD/user/default_pager" "$module tsc_mhz=$tsc_mhz only=paging reboot=1 $words" \
        > /dev/null 2>&1 || true
    tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"
    grep -q '^bench-done' "$log" || note "Mica paging run $r did not finish (see $log)"
    sed -n '/^bench-start/,/^bench-done/p' "$log" | results | sed 's/^/mica /' >> "$RAW"
  done
fi
rm -f "$disk"
mica_pit=$(sed -n 's/.*apic: tsc \([0-9]*\) MHz.*/\1/p' "$OUT/mica-run-1.log" | head -1)
note "Mica: $runs runs (TSC $tsc_mhz MHz given; the kernel's PIT calibration says ${mica_pit:-?} MHz)"

# A private, writable copy of a peer folder (with whatever it has built already).
peer_copy() {
  local name=$1
  if [ ! -d "$BUILD/peers/$name" ]; then
    [ -d "$PEERS_SRC/$name" ] || { note "no peer $PEERS_SRC/$name"; return 1; }
    mkdir -p "$BUILD/peers"
    cp -r "$PEERS_SRC/$name" "$BUILD/peers/$name" && chmod -R u+w "$BUILD/peers/$name"
  fi
  echo "$BUILD/peers/$name"
}

gm_mhz=
if [ "$peers" = 1 ]; then
  # ---- GNU Mach (x86_64, Debian trixie, uniprocessor image) ----
  dir=
  if dir=$(peer_copy gnumach-qemu) && (cd "$dir" && ./run.sh x86_64 "$runs") > "$OUT/gnumach.log" 2>&1; then
    grep -E '^x86_64 ' "$OUT/gnumach.log" | cut -d' ' -f2- | results | sed 's/^/gnumach /' >> "$RAW"
    gm_mhz=$(awk '$2 == "tsc_hz" {printf "%.1f", $3 / 1e6; exit}' "$RAW")
    note "GNU Mach: $runs runs (see $OUT/gnumach.log)"
  else
    note "GNU Mach peer failed; skipped (see $OUT/gnumach.log)"
  fi
  # The peer's module on Mica, for its pager line (run.sh's KERNEL=: lines labelled mica_peer).
  if [ -n "$dir" ] && (cd "$dir" && KERNEL=$kernel LABEL=mica_peer ./run.sh x86_64 "$runs") > "$OUT/mica-peer.log" 2>&1; then
    grep -E '^mica_peer ' "$OUT/mica-peer.log" | cut -d' ' -f2- | results | sed 's/^/mica_peer /' >> "$RAW"
  else
    note "the GNU Mach peer's module on Mica failed (see $OUT/mica-peer.log)"
  fi
  # Mica's own module on GNU Mach, for the lines the peer's module lacks (same boot.sh
  # settings as Mica's runs: -smp 1, 1 GiB, qemu64; GRUB ISO).
  for r in $(seq "$runs"); do
    log=$OUT/gnumach-own-run-$r.log
    "$ROOT/tools/gnumach-boot.sh" "$BUILD" "$module tsc_mhz=$tsc_mhz only=pager,vmmap gnumach=1 $words" \
        --smp 1 --mem 1024 --timeout 300 --log "$log" > /dev/null 2>&1 || true
    tr -d '\r' < "$log" > "$log.tmp" && mv "$log.tmp" "$log"
    if grep -q '^bench-done' "$log"; then
      sed -n '/bench-start/,/^bench-done/p' "$log" | results | sed 's/^/gnumach_own /' >> "$RAW"
    else
      note "Mica's module on GNU Mach, run $r, did not finish (see $log)"
    fi
  done

  # ---- Linux (Debian 12 kernel, busybox initramfs) ----
  if dir=$(peer_copy linux-qemu); then
    if [ ! -s "$dir/out/initramfs.cpio.gz" ] || [ ! -s "$dir/kernel/vmlinuz" ]; then
      deps=; [ "$(id -u)" -eq 0 ] && deps=--deps
      (cd "$dir" && ./build.sh $deps) > "$OUT/linux-build.log" 2>&1 ||
        note "the Linux peer does not build here; skipped (see $OUT/linux-build.log)"
    fi
    if [ -s "$dir/out/initramfs.cpio.gz" ]; then
      # The peer's initramfs plus the disk benchmark, and a scratch disk, if that builds.
      initrd= extra=
      if initrd=$("$ROOT/tools/linux-peer-disk.sh" "$BUILD" 2>> "$OUT/linux-build.log"); then
        extra="-drive file=$disk,format=raw,if=none,id=disk0,cache=unsafe -device virtio-blk-pci,drive=disk0,addr=0x8"
      else
        initrd=$dir/out/initramfs.cpio.gz
        note "no disk benchmark for Linux (see $OUT/linux-build.log)"
      fi
      : > "$OUT/linux.log"
      for r in $(seq "$runs"); do
        rm -f "$disk"; truncate -s 64M "$disk"
        (cd "$dir" && INITRD=$initrd QEMU_EXTRA=$extra ./run.sh -s 1 -m 1G -t 600 -l "$OUT/linux-logs") \
          >> "$OUT/linux.log" 2>&1 || note "Linux run $r failed (see $OUT/linux.log)"
      done
      # Paging: 120 MiB leaves Linux about as much free memory as Mica has in 64 MiB (the
      # Debian kernel does not boot in 64 MiB); the disk is its swap area.
      if [ "$paging" = 1 ] && [ -n "$extra" ]; then
        for r in $(seq "$runs"); do
          rm -f "$disk"; truncate -s 320M "$disk"
          (cd "$dir" && INITRD=$initrd QEMU_EXTRA=$extra ./run.sh -s 1 -m 120M -t 600 -a paging -v \
             -l "$OUT/linux-logs") >> "$OUT/linux.log" 2>&1 || note "Linux paging run $r failed (see $OUT/linux.log)"
        done
      fi
      rm -f "$disk"
      grep -v '^harness_' "$OUT/linux.log" | results | sed 's/^/linux /' >> "$RAW"
      note "Linux: $runs runs (see $OUT/linux.log)"
    fi
  fi
fi

# ---- The table: the median over the runs of each kernel's equivalent line ----
# row label | Mica name | GNU Mach name | Linux name   ("-": none)
ROWS="null trap (mach_task_self / getppid)|mach_task_self_trap|mach_task_self_trap|null_syscall
mach_msg_trap, option 0 (/ getppid)|mach_msg_trap_null|mach_msg_trap_null|null_syscall
swtch_pri(0), nothing else runnable|swtch_pri_trap_no_other_runnable|swtch_pri_trap_no_other_runnable|-
swtch, nothing else runnable|swtch_trap_no_other_runnable|-|-
mach_reply_port (allocates a receive right)|mach_reply_port_trap|mach_reply_port_trap|-
MIG call to the kernel (mach_port_type)|mig_rpc_to_kernel_mach_port_type|mig_rpc_to_kernel_mach_port_type|-
null IPC RPC round trip, same task (*)|ipc_null_rpc_rtt_same_task|ipc_null_rpc_rtt_same_task|futex_rtt
null IPC RPC round trip, two tasks (*)|ipc_null_rpc_rtt_cross_task|ipc_null_rpc_rtt_cross_task|pipe_rtt
RPC with 1 MiB out-of-line, two tasks|ipc_ool_1MiB_rpc_cross_task|-|-
 same, the server reads every page|ipc_ool_1MiB_rpc_cross_task_read|-|-
thread_switch handoff round trip|thread_switch_handoff_rtt|-|-
swtch ping-pong round trip|swtch_yield_rtt|-|-
vm_allocate 16 MiB|vm_allocate_16MiB|vm_allocate_16MiB|-
zero-fill fault per page, 16 MiB|zero_fill_fault_per_page_16MiB|zero_fill_fault_per_page_16MiB|anon_fault
 zero-fill fault, median page|zero_fill_fault_median_page|zero_fill_fault_median_page|-
 zero-fill fault, 99th percentile page|zero_fill_fault_p99_page|zero_fill_fault_p99_page|-
vm_deallocate 16 MiB, touched|vm_deallocate_16MiB_touched|vm_deallocate_16MiB_touched|-
vm_copy 16 MiB, resident|vm_copy_16MiB|vm_copy_16MiB|-
COW fault per page after vm_copy, 16 MiB (**)|cow_fault_write_dst_after_vm_copy_per_page|cow_fault_write_dst_after_vm_copy_per_page|cow_fault
 COW fault after vm_copy, median page|cow_fault_dst_after_vm_copy_median_page|cow_fault_dst_after_vm_copy_median_page|-
 COW fault after vm_copy, 99th perc. page|cow_fault_dst_after_vm_copy_p99_page|cow_fault_dst_after_vm_copy_p99_page|-
COW fault per page after vm_copy, 64 KiB|cow_fault_dst_after_vm_copy_64KiB_per_page|cow_fault_dst_after_vm_copy_64KiB_per_page|-
source write after vm_copy, per page|write_src_after_vm_copy_per_page|write_src_after_vm_copy_per_page|-
task_create(inherit), 16 MiB resident|task_create_inherit_16MiB_resident|task_create_inherit_16MiB_resident|-
child's COW write fault per page, 16 MiB|child_cow_write_fault_per_page|child_cow_write_fault_per_page|cow_fault
task_terminate of that child|task_terminate_after_cow|task_terminate_after_cow|-
fork+exit+wait (***)|task_create_exit_terminate_base|-|fork_exit_wait_base
fork+exit+wait, 64 MiB resident (***)|task_create_exit_terminate_64MiB|-|fork_exit_wait_64m
 same, 64 MiB rewritten before each|task_create_exit_terminate_64MiB_rewritten|-|fork_exit_wait_64m
external pager read fault per page (****)|external_pager_fault_read_per_page|external_pager_fault_read_per_page|uffd_copy_fault
 same, both running GNU Mach's module|peer:external_pager_fault_read_per_page|external_pager_fault_read_per_page|-
 same, both running Mica's module|external_pager_fault_read_per_page|own:external_pager_fault_read_per_page|-
external pager fault, 1 page per request|external_pager_fault_one_page_per_request|own:external_pager_fault_one_page_per_request|uffd_copy_fault
vm_map of a memory object, 8 MiB, first|vm_map_memory_object_8MiB|vm_map_memory_object_8MiB|-
vm_map 8 MiB of a mapped object|vm_map_memory_object_warm|own:vm_map_memory_object_warm|-
 its vm_deallocate, untouched|vm_deallocate_memory_object_warm|own:vm_deallocate_memory_object_warm|-
 vm_map + vm_deallocate|vm_map_deallocate_memory_object_warm|own:vm_map_deallocate_memory_object_warm|-
vm_map + vm_deallocate, init + terminate|vm_map_deallocate_memory_object_cold|own:vm_map_deallocate_memory_object_cold|-
Mica: child task_terminates itself|task_self_terminate_base|-|-
Mica: bare trap (mica_cpu_number)|mica_cpu_number_trap|-|-
Mica: mach_thread_self trap|mach_thread_self_trap|-|-
Mica: send+receive, own port, 1 trap|ipc_send_receive_self|-|-
Mica: destroy a receive right (MIG)|mach_port_destroy_receive_right|-|-"
# row label | Mica name | Linux name
RATES="disk write, 64 KiB records (#)|disk_write_64k|disk_write_64k
disk read, 64 KiB records (#)|disk_read_64k|disk_read_64k
disk write, 4 KiB records|disk_write_4k|disk_write_4k
disk read, 4 KiB records|disk_read_4k|disk_read_4k
paging: write 128 MiB, little memory (##)|paging_write_128m|paging_write_128m
paging: read it back|paging_read_back_128m|paging_read_back_128m"
table() {
  awk -v rows="$ROWS" -v rates="$RATES" '
    # Every value in ns (the Linux peer gives its fork lines in us).
    { k = $1 " " $2; x = $3 * ($4 == "us" ? 1000 : $4 == "ms" ? 1000000 : 1); v[k] = v[k] " " x }
    function med(k,   a, m, i, j, t) {
      if (!(k in v)) return ""
      m = split(substr(v[k], 2), a, " ")
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    function cell(x) { return x == "" ? "-" : sprintf("%.0f", x) }
    function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.2f", a / b) }
    END {
      printf "%-44s %9s %9s %9s %13s %10s\n", "benchmark (ns, median)", "Mica", "GNU Mach", "Linux", "Mica/GNU Mach", "Mica/Linux"
      n = split(rows, r, "\n")
      for (i = 1; i <= n; i++) {
        split(r[i], f, "|")
        # "peer:NAME": the GNU Mach peer module on Mica; "own:NAME": the Mica module on GNU Mach.
        m = (f[2] ~ /^peer:/) ? med("mica_peer " substr(f[2], 6)) : med("mica " f[2])
        g = (f[3] ~ /^own:/) ? med("gnumach_own " substr(f[3], 5)) : med("gnumach " f[3])
        l = med("linux " f[4])
        printf "%-44s %9s %9s %9s %13s %10s\n", f[1], cell(m), cell(g), cell(l), ratio(m, g), ratio(m, l)
      }
      # Throughputs: MB/s, higher is better.
      printf "\n%-44s %9s %9s %9s %13s %10s\n", "throughput (MB/s, median)", "Mica", "", "Linux", "", "Mica/Linux"
      n = split(rates, r, "\n")
      for (i = 1; i <= n; i++) {
        split(r[i], f, "|")
        m = med("mica " f[2]); l = med("linux " f[3])
        printf "%-44s %9s %9s %9s %13s %10s\n", f[1], m == "" ? "-" : sprintf("%.1f", m), "", l == "" ? "-" : sprintf("%.1f", l), "", ratio(m, l)
      }
    }' "$RAW"
  echo "(*) Header-only request, reply on the send-once right. Linux: a futex wake/wait round"
  echo "    trip between two threads, and a pipe round trip between two processes, on one CPU."
  echo "(**) Linux: cow_fault is the child's write fault after fork, the closest it has."
  echo "(***) Mica: task_create(inherit) + thread in the child + task_terminate + dead-name"
  echo "    notification. Linux: fork + _exit + waitpid. Neither peer has a 1 MiB message line."
  echo "(****) 2048 pages of a memory object read once each; the pager thread answers each"
  echo "    data_request with data_supply (Linux: userfaultfd, UFFDIO_COPY of each page)."
  echo "    \"GNU Mach's module\" is the peer's module booted on Mica; \"Mica's module\" is"
  echo "    Mica's booted on GNU Mach (tools/gnumach-boot.sh), as are the vm_map ... lines."
  echo "(#) vd0 through device_write/device_read from a task; Linux: O_DIRECT pwrite/pread of"
  echo "    /dev/vda. Both virtio-blk-pci, raw, cache=unsafe; 16 MiB a pass."
  echo "(##) Two words written into each page of 128 MiB, then read back and checked, one pass"
  echo "    each. Mica: 64 MiB (60 free), the default pager, a 320 MiB swap disk. Linux: 120 MiB"
  echo "    (the Debian kernel does not boot in 64), the same disk as swap."
  local gm=
  [ -z "$gm_mhz" ] || gm=", GNU Mach calibrates $gm_mhz MHz against host_get_time"
  echo "Runs: $runs per kernel, QEMU TCG, -smp 1. TSC: $tsc_mhz MHz given to Mica" \
       "(its kernel calibrates ${mica_pit:-?} MHz against the PIT$gm)."
}
{
  echo "# Mica benchmarks $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')," \
       "host $(nproc) CPUs, $(qemu-system-x86_64 --version | head -1)"
  table
  echo
  echo "# raw: kernel name value unit (one line per run)"
  cat "$RAW"
} > "$OUT/results.txt"
sed '/^# raw:/,$d' "$OUT/results.txt" | sed '$d'
note "results in $OUT/results.txt"
