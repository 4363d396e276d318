#!/usr/bin/env bash
# Boots a Multiboot kernel and its boot modules in QEMU, the serial console on stdout.
# The one launcher of ./mica run, ./mica debug and the system tests.
#
# usage: tools/boot.sh [--smp N] [--mem MB] [--timeout SEC] [--log FILE] [--gdb] [--iso]
#                      [--disk FILE]... [--append 'KERNEL OPTIONS'] KERNEL 'MODULE [ARGS]'...
#
# A module without ARGS gets GNU Mach's bootstrap words, so the kernel makes it a task:
#   ${host-port} ${device-port} $(task-create) $(task-resume)
# Direct mode: QEMU's multiboot loader; the module's command line is "MODULE ARGS", so
# argv[0] is MODULE's path. --iso: a GRUB rescue ISO, in GNU Mach's grub.cfg form
# (module /boot/NAME NAME ARGS), so argv[0] is NAME.
# --timeout: QEMU is killed after SEC seconds and boot.sh exits 124. Otherwise the status is
# QEMU's: with isa-debug-exit, (value written to port 0xf4) * 2 + 1.
# Status 0 means QEMU saw a reset (with -no-reboot; a triple fault) or a power-off.
# --disk FILE: FILE (raw) becomes a virtio-blk-pci disk; the kernel names the disks vd0, vd1...
# in the order given (docs/device.md).
# --gdb: QEMU waits for gdb on :1234 (-s -S). QEMU_EXTRA: more QEMU arguments, for example
# QEMU_EXTRA='-d int,cpu_reset -D /tmp/qemu.log' to trace interrupts and resets.
set -euo pipefail -f           # -f: module arguments are not globs

QEMU=${QEMU:-qemu-system-x86_64}
QEMU_CPU=${MICA_QEMU_CPU:-qemu64}       # the default QEMU CPU; not -cpu max
BOOT_WORDS="\${host-port} \${device-port} \$(task-create) \$(task-resume)"

usage() { sed -n '5,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

smp=1 mem=128 timeout= log= gdb=0 iso=0 append= disks=()
while [ $# -gt 0 ]; do
  case $1 in
    --smp) smp=${2:?}; shift 2 ;;
    --mem) mem=${2:?}; shift 2 ;;
    --timeout) timeout=${2:?}; shift 2 ;;
    --log) log=${2:?}; shift 2 ;;
    --gdb) gdb=1; shift ;;
    --append) append=${2:?}; shift 2 ;;
    --iso) iso=1; shift ;;
    --disk) disks+=("${2:?}"); shift 2 ;;
    -h|--help) usage ;;
    --) shift; break ;;
    -*) echo "boot.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage
kernel=$1; shift
[ -f "$kernel" ] || { echo "boot.sh: no kernel $kernel" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mica-boot.XXXXXX")
cleanup() { rm -rf "$tmp"; if [ -t 0 ]; then stty sane 2>/dev/null || true; fi; }
trap cleanup EXIT

# -display none rather than -nographic: the firmware's and GRUB's screens stay off the serial
# line, which then carries only what the kernel prints.
args=(-m "$mem" -smp "$smp" -cpu "$QEMU_CPU" -display none -no-reboot -monitor none -nic none
      -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04)

# Each disk on its own PCI slot, in order, so that the kernel's bus scan finds them as given.
# QEMU's -drive takes "file=NAME" with commas doubled.
for i in "${!disks[@]}"; do
  disk=${disks[$i]}
  [ -f "$disk" ] || { echo "boot.sh: no disk $disk" >&2; exit 2; }
  # cache=unsafe: the disks are scratch images the runner makes for one boot; without it
  # every guest write waits for the host's disk (about 20 ms a 4 KiB swap write here).
  args+=(-drive "file=${disk//,/,,},format=raw,if=none,id=disk$i,cache=unsafe"
         -device "virtio-blk-pci,drive=disk$i,addr=$(printf '0x%x' $((8 + i)))")
done

if [ "$iso" = 1 ]; then
  # GRUB takes each word of a module line as one argument and quotes nothing for the
  # kernel; single quotes keep it from expanding ${host-port} itself.
  mkdir -p "$tmp/iso/boot/grub"
  cp "$kernel" "$tmp/iso/boot/mica"
  cfg=$tmp/iso/boot/grub/grub.cfg
  printf 'set timeout=0\nmenuentry "Mica" {\n  multiboot /boot/mica console=com0 %s\n' "$append" > "$cfg"
  for spec in "$@"; do
    read -r file rest <<< "$spec"
    [ -f "$file" ] || { echo "boot.sh: no module $file" >&2; exit 2; }
    name=$(basename "$file")
    cp "$file" "$tmp/iso/boot/$name"
    line="  module /boot/$name $name"
    for w in ${rest:-$BOOT_WORDS}; do
      case $w in *'$'*) [[ $w == \'*\' ]] || w="'$w'" ;; esac
      line+=" $w"
    done
    printf '%s\n' "$line" >> "$cfg"
  done
  printf '}\n' >> "$cfg"
  grub-mkrescue -o "$tmp/boot.iso" "$tmp/iso" >"$tmp/grub-mkrescue.log" 2>&1 ||
    { cat "$tmp/grub-mkrescue.log" >&2; exit 2; }
  args+=(-boot d -cdrom "$tmp/boot.iso")
else
  # -initrd takes "FILE ARGS,FILE ARGS"; a comma inside ARGS is written twice.
  initrd=
  for spec in "$@"; do
    read -r file rest <<< "$spec"
    [ -f "$file" ] || { echo "boot.sh: no module $file" >&2; exit 2; }
    one="$file ${rest:-$BOOT_WORDS}"
    initrd+=${initrd:+,}${one//,/,,}
  done
  args+=(-kernel "$kernel" -append "console=com0${append:+ $append}")
  [ -z "$initrd" ] || args+=(-initrd "$initrd")
fi

if [ "$gdb" = 1 ]; then
  args+=(-s -S)
  elf=$kernel.elf
  [ -f "$elf" ] || elf=$kernel
  echo "boot.sh: QEMU waits for gdb; attach with: gdb $elf -ex 'target remote :1234'" >&2
fi

read -ra extra <<< "${QEMU_EXTRA:-}"
run=("$QEMU" "${args[@]}" "${extra[@]}")
[ -z "$timeout" ] || run=(timeout --foreground -k 5 "$timeout" "${run[@]}")
status=0
if [ -n "$log" ]; then
  mkdir -p "$(dirname "$log")"
  "${run[@]}" | tee "$log" || status=${PIPESTATUS[0]}
else
  "${run[@]}" || status=$?
fi
case $status in
  124) note="timed out after $timeout s" ;;
  0) note="QEMU reset or powered off (a triple fault?)" ;;
  *) note= ;;
esac
if [ -n "$note" ]; then
  echo "boot.sh: $note" >&2
  [ -z "$log" ] || echo "boot.sh: $note" >> "$log"
fi
exit "$status"
