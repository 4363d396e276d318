/* The disk and paging benchmarks (docs/benchmarks.md).

   bench_disk: raw throughput of the first virtio disk (vd0) through device_write and
   device_read from this task, in 64 KiB and 4 KiB records, 16 MiB a pass from sector 0. A
   write sends the records out of line from one buffer (the kernel copies them into bounce
   pages); a read gets each record as new out-of-line memory, which the loop deallocates
   untouched. Linux's side is user/bench/linux_disk.c (O_DIRECT pwrite/pread on /dev/vda).
   Lines in MB/s (10^6 bytes a second), the median pass; a "#" line gives the time per call.

   bench_paging: end-to-end paging through the default pager. Booted with little memory after
   the default_pager module (as tools/bench.sh does unless --no-paging), it writes two words
   into every page of paging_mib MiB (more than the machine has), then reads them all back
   and checks them. One pass each; the lines are the MB/s of each pass over the whole
   region. */
#include <device/device.h>
#include <mach.h>
#include <mach/vm_statistics.h>
#include <stdint.h>
#include <stdio.h>

#include "bench.h"

enum { kDiskBytes = 16 << 20, kMaxRecord = 64 << 10, kSector = 512 };

/* The median pass of `bytes` in `calls` calls as a rate: bytes / seconds / 10^6, one decimal. */
static void report_rate(const char *name, uint64_t *cycles, uint64_t bytes, uint64_t calls) {
  sort(cycles, reps);
  uint64_t med = cycles[reps / 2];
  if (tsc_khz == 0) {
    printf("%s %lu cyc\n", name, med);
    return;
  }
  // bytes / (cycles / (tsc_khz * 1000)) / 10^6, in tenths.
  uint64_t tenths_mbps = bytes * tsc_khz * 10 / (med * 1000);
  uint64_t lo = bytes * tsc_khz * 10 / (cycles[reps - 1] * 1000);
  uint64_t hi = bytes * tsc_khz * 10 / (cycles[0] * 1000);
  uint64_t per_call = tenths(med, calls);
  printf("%s %lu.%lu MB/s\n", name, tenths_mbps / 10, tenths_mbps % 10);
  printf("# %s min %lu.%lu max %lu.%lu reps %d, %lu.%lu us a call\n", name, lo / 10, lo % 10,
         hi / 10, hi % 10, reps, per_call / 10000, per_call / 1000 % 10);
}

static int disk_pass(mach_port_t dev, vm_address_t buf, unsigned record, int write,
                     uint64_t *cycles) {
  unsigned n = kDiskBytes / record;
  uint64_t t0 = rdtsc();
  for (unsigned i = 0; i < n; i++) {
    recnum_t rec = (recnum_t)i * (record / kSector);
    kern_return_t kr;
    if (write) {
      int written = 0;
      kr = device_write(dev, 0, rec, (io_buf_ptr_t)buf, record, &written);
      if (kr == KERN_SUCCESS && written != (int)record)
        kr = KERN_FAILURE;
    } else {
      io_buf_ptr_t data = 0;
      mach_msg_type_number_t count = 0;
      kr = device_read(dev, 0, rec, record, &data, &count);
      if (kr == KERN_SUCCESS) {
        if (count != record)
          kr = KERN_FAILURE;
        vm_deallocate(mach_task_self(), (vm_address_t)data, count);
      }
    }
    if (kr != KERN_SUCCESS) {
      printf("# disk: device_%s of record %lu (%u bytes): %#x\n", write ? "write" : "read",
             (unsigned long)rec, record, kr);
      return 0;
    }
  }
  *cycles = rdtsc() - t0;
  return 1;
}

void bench_disk(mach_port_t device_master) {
  mach_port_t dev = MACH_PORT_NULL;
  kern_return_t kr = device_open(device_master, D_READ | D_WRITE, "vd0", &dev);
  if (kr != KERN_SUCCESS) {
    printf("# disk: no vd0 to write (device_open: %#x); boot with a disk\n", kr);
    return;
  }
  int size[2];
  mach_msg_type_number_t count = 2;
  kr = device_get_status(dev, DEV_GET_SIZE, size, &count);
  if (kr != KERN_SUCCESS || (unsigned)size[0] < kDiskBytes) {
    printf("# disk: vd0 is too small (%d bytes, %#x): it needs %d\n", size[0], kr, kDiskBytes);
    device_close(dev);
    return;
  }
  vm_address_t buf = 0;
  if (vm_allocate(mach_task_self(), &buf, kMaxRecord, TRUE) != KERN_SUCCESS)
    return;
  for (unsigned i = 0; i < kMaxRecord / 8; i++)
    ((uint64_t *)buf)[i] = 0x6d696361ull << 32 | i;
  static const unsigned records[] = {64 << 10, 4 << 10};
  for (unsigned k = 0; k < 2; k++) {
    unsigned record = records[k];
    uint64_t w[kMaxReps], r[kMaxReps], c;
    for (int pass = -1; pass < reps; pass++) {
      if (!disk_pass(dev, buf, record, 1, &c))
        return;
      if (pass >= 0)
        w[pass] = c;
    }
    for (int pass = -1; pass < reps; pass++) {
      if (!disk_pass(dev, buf, record, 0, &c))
        return;
      if (pass >= 0)
        r[pass] = c;
    }
    char name[64];
    snprintf(name, sizeof name, "disk_write_%uk", record >> 10);
    report_rate(name, w, kDiskBytes, kDiskBytes / record);
    snprintf(name, sizeof name, "disk_read_%uk", record >> 10);
    report_rate(name, r, kDiskBytes, kDiskBytes / record);
  }
  vm_deallocate(mach_task_self(), buf, kMaxRecord);
  device_close(dev);
}

static vm_statistics_data_t stats(void) {
  vm_statistics_data_t s = {0};
  vm_statistics(mach_task_self(), &s);
  return s;
}

/* A figure only when the data came back intact; otherwise a "#" line, which no table takes. */
static void rate_line(const char *what, unsigned mib, uint64_t cycles, int intact) {
  uint64_t bytes = (uint64_t)mib << 20;
  const char *mark = intact ? "" : "# (data lost) ";
  if (tsc_khz == 0) {
    printf("%spaging_%s_%um %lu cyc\n", mark, what, mib, cycles);
    return;
  }
  uint64_t t = bytes * tsc_khz * 10 / (cycles * 1000);
  printf("%spaging_%s_%um %lu.%lu MB/s\n", mark, what, mib, t / 10, t % 10);
}

void bench_paging(unsigned mib) {
  vm_size_t size = (vm_size_t)mib * MiB;
  vm_address_t a = 0;
  kern_return_t kr = vm_allocate(mach_task_self(), &a, size, TRUE);
  if (kr != KERN_SUCCESS) {
    printf("# paging: vm_allocate %u MiB: %#x\n", mib, kr);
    return;
  }
  vm_statistics_data_t s0 = stats();
  uint64_t t0 = rdtsc();
  for (vm_size_t off = 0; off < size; off += PAGE) {
    uint64_t *p = (uint64_t *)(a + off);
    p[0] = 0x7061676500000000ull | off;
    p[PAGE / 8 - 1] = ~(uint64_t)off;
  }
  uint64_t t1 = rdtsc();
  vm_statistics_data_t s1 = stats();
  unsigned long bad = 0, first_bad = 0;
  for (vm_size_t off = 0; off < size; off += PAGE) {
    uint64_t *p = (uint64_t *)(a + off);
    if (p[0] != (0x7061676500000000ull | off) || p[PAGE / 8 - 1] != ~(uint64_t)off) {
      if (!bad)
        first_bad = off;
      bad++;
    }
  }
  uint64_t t2 = rdtsc();
  vm_statistics_data_t s2 = stats();
  rate_line("write", mib, t1 - t0, bad == 0);
  rate_line("read_back", mib, t2 - t1, bad == 0);
  printf("# paging: write pass %lu pageouts %lu pageins, read pass %lu pageouts %lu pageins\n",
         (unsigned long)(s1.pageouts - s0.pageouts), (unsigned long)(s1.pageins - s0.pageins),
         (unsigned long)(s2.pageouts - s1.pageouts), (unsigned long)(s2.pageins - s1.pageins));
  if (bad)
    printf("# paging: %lu of %lu pages read back wrong, the first at offset %#lx\n", bad,
           (unsigned long)(size / PAGE), first_bad);
  else
    printf("# paging: all %lu pages read back intact\n", (unsigned long)(size / PAGE));
  vm_deallocate(mach_task_self(), a, size);
}
