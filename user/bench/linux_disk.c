/* Linux's side of bench_disk.c: raw throughput of /dev/vda (a virtio-blk disk) with O_DIRECT
   pwrite and pread, in 64 KiB and 4 KiB records, 16 MiB a pass from sector 0, one warm-up
   pass and 5 timed ones, the median pass in MB/s (10^6 bytes a second). Built for Linux, not
   for Mica: tools/bench-linux-disk.sh compiles it (gcc -static) and boots it in the Linux
   peer's initramfs in place of its bench program, with the same output form
   ("name value unit", "#" details). It ignores the peer's "-d DIR" argument.
   With "-P MIB" it measures paging instead, as bench_disk.c's bench_paging: it writes two
   words into every page of MIB MiB of anonymous memory, reads them back and checks them, one
   pass each, in MB/s (the /bin/bench wrapper first makes /dev/vda the swap area). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { kBytes = 16 << 20, kMaxRecord = 64 << 10, kReps = 5 };

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int pass(int fd, char *buf, size_t record, int write, uint64_t *ns) {
  uint64_t t0 = now_ns();
  for (size_t off = 0; off < kBytes; off += record) {
    ssize_t n = write ? pwrite(fd, buf, record, (off_t)off) : pread(fd, buf, record, (off_t)off);
    if (n != (ssize_t)record) {
      printf("# disk: %s at %zu: %zd (%s)\n", write ? "pwrite" : "pread", off, n,
             n < 0 ? strerror(errno) : "short");
      return 0;
    }
  }
  *ns = now_ns() - t0;
  return 1;
}

static void line(const char *name, uint64_t *ns, size_t record) {
  qsort(ns, kReps, sizeof ns[0], cmp);
  double med = (double)ns[kReps / 2];
  printf("%s %.1f MB/s\n", name, kBytes / med * 1e3);
  printf("# %s min %.1f max %.1f reps %d, %.1f us a call\n", name,
         kBytes / (double)ns[kReps - 1] * 1e3, kBytes / (double)ns[0] * 1e3, kReps,
         med / (kBytes / record) / 1e3);
}

static int paging(long mib) {
  size_t size = (size_t)mib << 20;
  char *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED) {
    printf("# paging: mmap %ld MiB: %s\n", mib, strerror(errno));
    return 1;
  }
  uint64_t t0 = now_ns();
  for (size_t off = 0; off < size; off += 4096) {
    uint64_t *p = (uint64_t *)(a + off);
    p[0] = 0x7061676500000000ull | off;
    p[4096 / 8 - 1] = ~(uint64_t)off;
  }
  uint64_t t1 = now_ns();
  size_t bad = 0;
  for (size_t off = 0; off < size; off += 4096) {
    uint64_t *p = (uint64_t *)(a + off);
    if (p[0] != (0x7061676500000000ull | off) || p[4096 / 8 - 1] != ~(uint64_t)off)
      bad++;
  }
  uint64_t t2 = now_ns();
  const char *mark = bad ? "# (data lost) " : "";
  printf("%spaging_write_%ldm %.1f MB/s\n", mark, mib, size / (double)(t1 - t0) * 1e3);
  printf("%spaging_read_back_%ldm %.1f MB/s\n", mark, mib, size / (double)(t2 - t1) * 1e3);
  printf("# paging: %zu of %zu pages read back wrong\n", bad, size / 4096);
  return bad != 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "-P") == 0)
      return paging(atol(argv[i + 1]));
  int fd = -1;
  // The driver module was just loaded: wait for its disk to appear.
  for (int i = 0; i < 100 && fd < 0; i++) {
    fd = open("/dev/vda", O_RDWR | O_DIRECT);
    if (fd < 0)
      usleep(100000);
  }
  if (fd < 0) {
    printf("# disk: open /dev/vda: %s\n", strerror(errno));
    return 1;
  }
  char *buf = aligned_alloc(4096, kMaxRecord);
  for (size_t i = 0; i < kMaxRecord / 8; i++)
    ((uint64_t *)buf)[i] = 0x6d696361ull << 32 | i;
  static const size_t records[] = {64 << 10, 4 << 10};
  for (int k = 0; k < 2; k++) {
    size_t record = records[k];
    uint64_t w[kReps], r[kReps], t;
    for (int p = -1; p < kReps; p++) {
      if (!pass(fd, buf, record, 1, &t))
        return 1;
      if (p >= 0)
        w[p] = t;
    }
    for (int p = -1; p < kReps; p++) {
      if (!pass(fd, buf, record, 0, &t))
        return 1;
      if (p >= 0)
        r[p] = t;
    }
    char name[64];
    snprintf(name, sizeof name, "disk_write_%zuk", record >> 10);
    line(name, w, record);
    snprintf(name, sizeof name, "disk_read_%zuk", record >> 10);
    line(name, r, record);
  }
  close(fd);
  return 0;
}
