/* The virtio-blk disk behind the device master port (device.defs; docs/device.md), as a GNU
   Mach program uses a disk: device_open on the master port from the boot script
   (argv[2], ${device-port}), then device_read/device_write in 512-byte records. Mica only:
   it needs the disk the system tests attach (tools/boot.sh --disk), and it reads Mica's
   kernel object counts (<test/mica_counters.h>).

   The disk is made before each boot by tools/make-disk.sh: kSectors sectors, sector N
   holding "mica sector N" padded with spaces and ended by a newline. Sectors below
   kScratch are only read; the tests write from kScratch up. */
#include <device/device.h>
#include <mach.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/mica_counters.h>
#include <test/test.h>

enum {
  kSectors = 16384,         /* 8 MiB: tests/system/CMakeLists.txt makes the image */
  kRecord = 512,
  kScratch = 8192,          /* first sector the tests write */
  kBigBytes = 1 << 20,      /* the large out-of-line transfers */
  kWriteSector = kScratch,  /* 1 MiB written and read back: 8192..10239 */
  kInbandSector = 10240,
  kUnalignedSector = 10250,
  kThreadSector = 10496,    /* each thread's region: kThreadSectors from here on */
  kThreadSectors = 512,
  kThreadRounds = 12,
};

static mach_port_t master;  /* the device master port */

/* Every kernel object count back where `before` found it. */
#define EXPECT_AT_BASELINE(before)                         \
  do {                                                     \
    struct mica_kernel_counters after_ = counters();       \
    EXPECT_SAME_OBJECTS(before, after_);                   \
  } while (0)

/* --- Helpers --- */

static bool pattern_ok(const char *s, unsigned sector) {
  char want[40];
  int n = snprintf(want, sizeof want, "mica sector %u", sector);
  if (memcmp(s, want, (size_t)n) != 0)
    return false;
  for (int i = n; i < kRecord - 1; i++)
    if (s[i] != ' ')
      return false;
  return s[kRecord - 1] == '\n';
}

/* Sector-tagged data that differs from the disk's pattern and from one round to the next. */
static void fill(char *buf, unsigned sectors, unsigned first, unsigned tag) {
  for (unsigned s = 0; s < sectors; s++) {
    char *p = buf + (size_t)s * kRecord;
    for (int i = 0; i < kRecord; i++)
      p[i] = (char)(first + s + tag * 31 + i * 7);
    snprintf(p, 32, "tag %u sector %u", tag, first + s);
  }
}

static mach_port_t open_vd0(dev_mode_t mode) {
  mach_port_t dev = MACH_PORT_NULL;
  kern_return_t kr = device_open(master, mode, "vd0", &dev);
  if (kr != D_SUCCESS) {
    test_fail(__FILE__, __LINE__, "device_open(vd0, %u): %d", mode, kr);
    return MACH_PORT_NULL;
  }
  return dev;
}

static void close_dev(mach_port_t dev) {
  EXPECT_EQ(device_close(dev), D_SUCCESS);
  /* The port died with the close: our send right is a dead name now. */
  EXPECT_EQ(ptype(dev), MACH_PORT_TYPE_DEAD_NAME);
  EXPECT_EQ(mach_port_deallocate(mach_task_self(), dev), KERN_SUCCESS);
}

/* device_read of `bytes` at `recnum`: returns the data (vm_deallocate it) or NULL, *count
   what came back. */
static char *read_ool(mach_port_t dev, recnum_t recnum, int bytes, mach_msg_type_number_t *count) {
  io_buf_ptr_t data = 0;
  *count = 0;
  kern_return_t kr = device_read(dev, 0, recnum, bytes, &data, count);
  if (kr != D_SUCCESS) {
    test_fail(__FILE__, __LINE__, "device_read(%lu, %d): %d", (unsigned long)recnum, bytes, kr);
    return NULL;
  }
  return data;
}

static void free_ool(char *data, mach_msg_type_number_t count) {
  if (data && count)
    EXPECT_EQ(vm_deallocate(mach_task_self(), (vm_address_t)data, count), KERN_SUCCESS);
}

/* --- Messages built by hand: data shorter than the message claims. --- */

typedef struct {
  mach_msg_header_t head;
  mach_msg_type_t mode_type;
  dev_mode_t mode;
  char mode_pad[4];
  mach_msg_type_t recnum_type;
  recnum_t recnum;
  mach_msg_type_long_t data_type;
  vm_address_t data;
} write_ool_request_t;

typedef struct {
  mach_msg_header_t head;
  mach_msg_type_t mode_type;
  dev_mode_t mode;
  char mode_pad[4];
  mach_msg_type_t recnum_type;
  recnum_t recnum;
  mach_msg_type_t data_type;
  char data[512];
} write_inband_request_t;

static mach_msg_type_t int_type(unsigned name, unsigned bits) {
  mach_msg_type_t t;
  memset(&t, 0, sizeof t);
  t.msgt_name = name;
  t.msgt_size = bits;
  t.msgt_number = 1;
  t.msgt_inline = TRUE;
  return t;
}

/* Sends the request in `m` (size bytes) to dev as an RPC and returns mach_msg's error, or the
   reply's code. The reply lands in the same buffer, which is large enough for it. */
static kern_return_t raw_rpc(mach_port_t dev, mach_msg_header_t *h, mach_msg_size_t size,
                             mach_msg_size_t buffer_size, mach_msg_id_t id, bool complex) {
  /* A reply port of its own: a send that fails after the kernel has made the send-once right
     leaves a send-once notification on it (as on GNU Mach, where MIG's stubs then drop their
     reply port too). */
  mach_port_t reply = mach_reply_port();
  h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) |
                 (complex ? MACH_MSGH_BITS_COMPLEX : 0);
  h->msgh_size = size;
  h->msgh_remote_port = dev;
  h->msgh_local_port = reply;
  h->msgh_id = id;
  mach_msg_return_t mr = mach_msg(h, MACH_SEND_MSG | MACH_RCV_MSG, size, buffer_size, reply, 0,
                                  MACH_PORT_NULL);
  EXPECT_EQ(mach_port_mod_refs(mach_task_self(), reply, MACH_PORT_RIGHT_RECEIVE, -1),
            KERN_SUCCESS);
  if (mr != MACH_MSG_SUCCESS)
    return mr;
  mig_reply_header_t *r = (mig_reply_header_t *)h;
  EXPECT_EQ(r->Head.msgh_id, id + 100);
  return r->RetCode;
}

/* --- Tests --- */

/* The runtime's first calls allocate what it keeps (reply port, malloc arena), and the
   kernel's device zone its first page: once, before any baseline. */
TEST(warm_up) {
  mach_port_t dev = open_vd0(D_READ | D_WRITE);
  ASSERT(dev != MACH_PORT_NULL);
  mach_msg_type_number_t n;
  free_ool(read_ool(dev, 0, kRecord, &n), n);
  char buf[IO_INBAND_MAX];
  n = sizeof buf;  /* in: the room in buf (MIG's CountInOut); out: what came */
  EXPECT_EQ(device_read_inband(dev, 0, 0, 16, buf, &n), D_SUCCESS);
  close_dev(dev);
  (void)counters();
}

TEST(get_status_reports_size_as_gnu_mach) {
  mach_port_t dev = open_vd0(D_READ);
  ASSERT(dev != MACH_PORT_NULL);
  int status[DEV_STATUS_MAX];
  mach_msg_type_number_t count = DEV_STATUS_MAX;
  EXPECT_EQ(device_get_status(dev, DEV_GET_SIZE, status, &count), D_SUCCESS);
  EXPECT_EQ(count, DEV_GET_SIZE_COUNT);
  EXPECT_EQ(status[DEV_GET_SIZE_DEVICE_SIZE], kSectors * kRecord);
  EXPECT_EQ(status[DEV_GET_SIZE_RECORD_SIZE], kRecord);
  count = DEV_STATUS_MAX;
  EXPECT_EQ(device_get_status(dev, DEV_GET_RECORDS, status, &count), D_SUCCESS);
  EXPECT_EQ(count, DEV_GET_RECORDS_COUNT);
  EXPECT_EQ(status[DEV_GET_RECORDS_DEVICE_RECORDS], kSectors);
  EXPECT_EQ(status[DEV_GET_RECORDS_RECORD_SIZE], kRecord);
  count = DEV_STATUS_MAX;
  EXPECT_EQ(device_get_status(dev, 77, status, &count), D_INVALID_OPERATION);
  EXPECT_EQ(device_set_status(dev, DEV_GET_SIZE, status, 2), D_INVALID_OPERATION);
  mach_port_t pager = MACH_PORT_NULL;
  EXPECT_EQ(device_map(dev, VM_PROT_READ, 0, 4096, &pager, 0), D_INVALID_OPERATION);
  close_dev(dev);
}

TEST(read_first_sectors) {
  mach_port_t dev = open_vd0(D_READ);
  ASSERT(dev != MACH_PORT_NULL);
  mach_msg_type_number_t n;
  char *data = read_ool(dev, 0, 8 * kRecord, &n);
  EXPECT_EQ(n, 8 * kRecord);
  for (unsigned s = 0; data && s < 8; s++)
    EXPECT(pattern_ok(data + s * kRecord, s));
  free_ool(data, n);
  /* One record in the middle, and a read of nothing. */
  data = read_ool(dev, 4321, kRecord, &n);
  EXPECT_EQ(n, kRecord);
  EXPECT(data && pattern_ok(data, 4321));
  free_ool(data, n);
  data = read_ool(dev, 5, 0, &n);
  EXPECT_EQ(n, 0);
  close_dev(dev);
}

TEST(read_one_mib_across_many_sectors) {
  mach_port_t dev = open_vd0(D_READ);
  ASSERT(dev != MACH_PORT_NULL);
  mach_msg_type_number_t n;
  /* Unaligned to pages on the disk, and more than one transfer's worth of segments. */
  char *data = read_ool(dev, 1001, kBigBytes, &n);
  EXPECT_EQ(n, kBigBytes);
  unsigned bad = 0;
  for (unsigned s = 0; data && s < kBigBytes / kRecord; s++)
    bad += !pattern_ok(data + (size_t)s * kRecord, 1001 + s);
  EXPECT_EQ(bad, 0);
  free_ool(data, n);
  close_dev(dev);
}

TEST(read_inband_is_the_start_of_a_record) {
  mach_port_t dev = open_vd0(D_READ);
  ASSERT(dev != MACH_PORT_NULL);
  char buf[IO_INBAND_MAX], want[kRecord];
  memset(want, ' ', sizeof want);
  memcpy(want, "mica sector 77", 14);
  mach_msg_type_number_t n = sizeof buf;
  EXPECT_EQ(device_read_inband(dev, 0, 77, 100, buf, &n), D_SUCCESS);
  EXPECT_EQ(n, 100);
  EXPECT_EQ(memcmp(buf, want, 100), 0);
  n = sizeof buf;
  EXPECT_EQ(device_read_inband(dev, 0, 77, IO_INBAND_MAX, buf, &n), D_SUCCESS);
  EXPECT_EQ(n, IO_INBAND_MAX);
  EXPECT_EQ(memcmp(buf, want, IO_INBAND_MAX), 0);
  n = sizeof buf;
  EXPECT_EQ(device_read_inband(dev, 0, 77, 0, buf, &n), D_SUCCESS);
  EXPECT_EQ(n, 0);
  close_dev(dev);
}

/* GNU Mach's disks trim a transfer that runs off the end to what the disk holds. */
TEST(read_past_the_end_is_trimmed) {
  mach_port_t dev = open_vd0(D_READ);
  ASSERT(dev != MACH_PORT_NULL);
  mach_msg_type_number_t n;
  char *data = read_ool(dev, kSectors - 1, 4 * kRecord, &n);
  EXPECT_EQ(n, kRecord);
  EXPECT(data && pattern_ok(data, kSectors - 1));
  free_ool(data, n);
  close_dev(dev);
}

TEST(write_one_mib_and_read_it_back) {
  mach_port_t dev = open_vd0(D_READ | D_WRITE);
  ASSERT(dev != MACH_PORT_NULL);
  char *buf = (char *)alloc(kBigBytes);
  ASSERT(buf != NULL);
  fill(buf, kBigBytes / kRecord, kWriteSector, 1);
  int written = 0;
  EXPECT_EQ(device_write(dev, 0, kWriteSector, buf, kBigBytes, &written), D_SUCCESS);
  EXPECT_EQ(written, kBigBytes);
  mach_msg_type_number_t n;
  char *back = read_ool(dev, kWriteSector, kBigBytes, &n);
  EXPECT_EQ(n, kBigBytes);
  EXPECT(back && memcmp(back, buf, kBigBytes) == 0);
  free_ool(back, n);
  /* Again, over it: the second write replaces the first. */
  fill(buf, kBigBytes / kRecord, kWriteSector, 2);
  EXPECT_EQ(device_write(dev, 0, kWriteSector, buf, kBigBytes, &written), D_SUCCESS);
  back = read_ool(dev, kWriteSector, kBigBytes, &n);
  EXPECT(back && memcmp(back, buf, kBigBytes) == 0);
  free_ool(back, n);
  /* The sectors before the region are untouched. */
  back = read_ool(dev, kWriteSector - 2, 2 * kRecord, &n);
  EXPECT(back && pattern_ok(back, kWriteSector - 2) &&
         pattern_ok(back + kRecord, kWriteSector - 1));
  free_ool(back, n);
  vm_deallocate(mach_task_self(), (vm_address_t)buf, kBigBytes);
  close_dev(dev);
}

/* Data that starts inside a page and spans three: the kernel reads it out of the map copy
   piece by piece. Untouched memory in it is zero. */
TEST(write_from_unaligned_buffer) {
  mach_port_t dev = open_vd0(D_READ | D_WRITE);
  ASSERT(dev != MACH_PORT_NULL);
  char *page = (char *)alloc(4 * vm_page_size);
  ASSERT(page != NULL);
  char *buf = page + vm_page_size - 3 * kRecord;  /* 3 records, then 3 more in the next page */
  fill(buf, 6, kUnalignedSector, 3);
  memset(buf + 6 * kRecord, 0, 2 * kRecord);  /* ... and two that read as zero */
  int written = 0;
  EXPECT_EQ(device_write(dev, 0, kUnalignedSector, buf, 8 * kRecord, &written), D_SUCCESS);
  EXPECT_EQ(written, 8 * kRecord);
  mach_msg_type_number_t n;
  char *back = read_ool(dev, kUnalignedSector, 8 * kRecord, &n);
  EXPECT(back && memcmp(back, buf, 8 * kRecord) == 0);
  free_ool(back, n);
  vm_deallocate(mach_task_self(), (vm_address_t)page, 4 * vm_page_size);
  close_dev(dev);
}

/* An in-band write changes the start of one record and leaves the rest of it. */
TEST(write_inband_changes_part_of_a_record) {
  mach_port_t dev = open_vd0(D_READ | D_WRITE);
  ASSERT(dev != MACH_PORT_NULL);
  char record[kRecord], part[IO_INBAND_MAX];  /* the type's size; 100 bytes of it are sent */
  fill(record, 1, kInbandSector, 4);
  int written = 0;
  EXPECT_EQ(device_write(dev, 0, kInbandSector, record, kRecord, &written), D_SUCCESS);
  memset(part, 'x', sizeof part);
  EXPECT_EQ(device_write_inband(dev, 0, kInbandSector, part, 100, &written), D_SUCCESS);
  EXPECT_EQ(written, 100);
  memcpy(record, part, 100);
  mach_msg_type_number_t n;
  char *back = read_ool(dev, kInbandSector, kRecord, &n);
  EXPECT(back && memcmp(back, record, kRecord) == 0);
  free_ool(back, n);
  char in[IO_INBAND_MAX];
  n = sizeof in;
  EXPECT_EQ(device_read_inband(dev, 0, kInbandSector, IO_INBAND_MAX, in, &n), D_SUCCESS);
  EXPECT_EQ(memcmp(in, record, IO_INBAND_MAX), 0);
  EXPECT_EQ(device_write_inband(dev, 0, kInbandSector, part, 0, &written), D_SUCCESS);
  EXPECT_EQ(written, 0);
  close_dev(dev);
}

TEST(write_past_the_end_is_trimmed) {
  mach_port_t dev = open_vd0(D_READ | D_WRITE);
  ASSERT(dev != MACH_PORT_NULL);
  char buf[2 * kRecord];
  fill(buf, 2, kSectors - 1, 5);
  int written = 0;
  EXPECT_EQ(device_write(dev, 0, kSectors - 1, buf, sizeof buf, &written), D_SUCCESS);
  EXPECT_EQ(written, kRecord);
  mach_msg_type_number_t n;
  char *back = read_ool(dev, kSectors - 1, kRecord, &n);
  EXPECT(back && memcmp(back, buf, kRecord) == 0);
  free_ool(back, n);
  close_dev(dev);
}

TEST(open_refuses_bad_names_ports_and_modes) {
  struct mica_kernel_counters before = counters();
  mach_port_t dev = MACH_PORT_NULL;
  const char *names[] = {"vd9", "vd1", "hd0", "", "vd", "vd0s1", "VD0"};
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
    EXPECT_EQ(device_open(master, D_READ, names[i], &dev), D_NO_SUCH_DEVICE);
    EXPECT_EQ(dev, MACH_PORT_NULL);
  }
  /* Open is a call on the master device port only. */
  mach_port_t host = mach_host_self();
  EXPECT_EQ(device_open(host, D_READ, "vd0", &dev), D_INVALID_OPERATION);
  EXPECT_EQ(device_open(mach_task_self(), D_READ, "vd0", &dev), D_INVALID_OPERATION);
  EXPECT_EQ(device_open(MACH_PORT_NULL, D_READ, "vd0", &dev), MACH_SEND_INVALID_DEST);
  EXPECT_EQ(mach_port_deallocate(mach_task_self(), host), KERN_SUCCESS);
  /* Mode bits device_types.h does not define. */
  EXPECT_EQ(device_open(master, D_READ | 0x100, "vd0", &dev), D_INVALID_OPERATION);
  EXPECT_EQ(device_open(master, 0x80000000u, "vd0", &dev), D_INVALID_OPERATION);
  EXPECT_EQ(dev, MACH_PORT_NULL);
  EXPECT_AT_BASELINE(before);
}

TEST(calls_on_ports_that_are_no_device) {
  struct mica_kernel_counters before = counters();
  mach_port_t host = mach_host_self();
  mach_port_t ports[] = {master, host, mach_task_self()};
  for (unsigned i = 0; i < 3; i++) {
    mach_port_t p = ports[i];
    io_buf_ptr_t data = 0;
    mach_msg_type_number_t n = 0;
    int written = 0;
    char buf[IO_INBAND_MAX];
    int status[4];
    mach_msg_type_number_t count = 4;
    EXPECT_EQ(device_read(p, 0, 0, kRecord, &data, &n), D_NO_SUCH_DEVICE);
    EXPECT_EQ(device_write(p, 0, kScratch, buf, sizeof buf, &written), D_NO_SUCH_DEVICE);
    EXPECT_EQ(device_read_inband(p, 0, 0, 10, buf, &n), D_NO_SUCH_DEVICE);
    EXPECT_EQ(device_write_inband(p, 0, kScratch, buf, 10, &written), D_NO_SUCH_DEVICE);
    EXPECT_EQ(device_get_status(p, DEV_GET_SIZE, status, &count), D_NO_SUCH_DEVICE);
    EXPECT_EQ(device_close(p), D_NO_SUCH_DEVICE);
  }
  EXPECT_EQ(device_close(MACH_PORT_NULL), MACH_SEND_INVALID_DEST);
  EXPECT_EQ(mach_port_deallocate(mach_task_self(), host), KERN_SUCCESS);
  EXPECT_AT_BASELINE(before);
}

TEST(bad_ranges_and_sizes) {
  mach_port_t dev = open_vd0(D_READ | D_WRITE);
  ASSERT(dev != MACH_PORT_NULL);
  struct mica_kernel_counters before = counters();
  io_buf_ptr_t data = 0;
  mach_msg_type_number_t n = 0;
  /* Reads: the first record past the end, sizes that are not whole records. */
  EXPECT_EQ(device_read(dev, 0, kSectors, kRecord, &data, &n), D_INVALID_RECNUM);
  EXPECT_EQ(device_read(dev, 0, kSectors + 100, 0, &data, &n), D_INVALID_RECNUM);
  EXPECT_EQ(device_read(dev, 0, ~(recnum_t)0, kRecord, &data, &n), D_INVALID_RECNUM);
  EXPECT_EQ(device_read(dev, 0, (recnum_t)1 << 60, kRecord, &data, &n), D_INVALID_RECNUM);
  EXPECT_EQ(device_read(dev, 0, 0, 100, &data, &n), D_INVALID_SIZE);
  EXPECT_EQ(device_read(dev, 0, 0, kRecord + 1, &data, &n), D_INVALID_SIZE);
  EXPECT_EQ(device_read(dev, 0, 0, -kRecord, &data, &n), D_INVALID_SIZE);
  EXPECT_EQ(device_read(dev, 0, 0, 0x7ffffe00, &data, &n), D_INVALID_SIZE);
  EXPECT_EQ(device_read(dev, 0, 0, 32 << 20, &data, &n), D_INVALID_SIZE);
  char buf[IO_INBAND_MAX];
  EXPECT_EQ(device_read_inband(dev, 0, kSectors, 10, buf, &n), D_INVALID_RECNUM);
  EXPECT_EQ(device_read_inband(dev, 0, 0, IO_INBAND_MAX + 1, buf, &n), D_INVALID_SIZE);
  EXPECT_EQ(device_read_inband(dev, 0, 0, -1, buf, &n), D_INVALID_SIZE);
  /* Writes: the same, and no data at all. */
  char *big = (char *)alloc(2 * vm_page_size);
  ASSERT(big != NULL);
  int written = -1;
  EXPECT_EQ(device_write(dev, 0, kSectors, big, kRecord, &written), D_INVALID_RECNUM);
  EXPECT_EQ(device_write(dev, 0, ~(recnum_t)0, big, kRecord, &written), D_INVALID_RECNUM);
  EXPECT_EQ(device_write(dev, 0, kScratch, big, 100, &written), D_INVALID_SIZE);
  EXPECT_EQ(device_write(dev, 0, kScratch, big, kRecord + 8, &written), D_INVALID_SIZE);
  EXPECT_EQ(device_write(dev, 0, kScratch, big, 0, &written), D_INVALID_SIZE);
  EXPECT_EQ(device_write_inband(dev, 0, kSectors, buf, 10, &written), D_INVALID_RECNUM);
  EXPECT_EQ(written, -1);
  vm_deallocate(mach_task_self(), (vm_address_t)big, 2 * vm_page_size);
  EXPECT_AT_BASELINE(before);
  close_dev(dev);
}

/* A read-only open refuses writes, a write-only open reads; no access bits open for reading,
   as GNU Mach's block devices do. */
TEST(mode_is_checked) {
  mach_port_t ro = open_vd0(D_READ);
  mach_port_t wo = open_vd0(D_WRITE);
  mach_port_t none = open_vd0(0);
  ASSERT(ro != MACH_PORT_NULL && wo != MACH_PORT_NULL && none != MACH_PORT_NULL);
  EXPECT(ro != wo);
  EXPECT_EQ(none, ro);  /* the same open device: same disk, same access */
  char buf[kRecord];
  int written = 0;
  io_buf_ptr_t data = 0;
  mach_msg_type_number_t n = 0;
  EXPECT_EQ(device_write(ro, 0, kScratch, buf, kRecord, &written), D_INVALID_OPERATION);
  EXPECT_EQ(device_write_inband(ro, 0, kScratch, buf, 10, &written), D_INVALID_OPERATION);
  EXPECT_EQ(device_read(wo, 0, 0, kRecord, &data, &n), D_INVALID_OPERATION);
  EXPECT_EQ(device_read_inband(wo, 0, 0, 10, buf, &n), D_INVALID_OPERATION);
  fill(buf, 1, kScratch + 1, 6);
  EXPECT_EQ(device_write(wo, 0, kScratch + 1, buf, kRecord, &written), D_SUCCESS);
  char *back = read_ool(ro, kScratch + 1, kRecord, &n);
  EXPECT(back && memcmp(back, buf, kRecord) == 0);
  free_ool(back, n);
  /* `none` and `ro` are one open device opened twice: the first close leaves it open. */
  EXPECT_EQ(device_close(none), D_SUCCESS);
  EXPECT_EQ(ptype(ro), MACH_PORT_TYPE_SEND);
  EXPECT_EQ(mach_port_deallocate(mach_task_self(), none), KERN_SUCCESS);
  close_dev(ro);
  close_dev(wo);
}

/* A closed device's port is dead: calls on it fail at the send. */
TEST(closed_device_is_a_dead_name) {
  struct mica_kernel_counters before = counters();
  mach_port_t dev = open_vd0(D_READ);
  ASSERT(dev != MACH_PORT_NULL);
  EXPECT_EQ(device_close(dev), D_SUCCESS);
  io_buf_ptr_t data = 0;
  mach_msg_type_number_t n = 0;
  EXPECT_EQ(device_read(dev, 0, 0, kRecord, &data, &n), MACH_SEND_INVALID_DEST);
  EXPECT_EQ(device_close(dev), MACH_SEND_INVALID_DEST);
  EXPECT_EQ(ptype(dev), MACH_PORT_TYPE_DEAD_NAME);
  EXPECT_EQ(mach_port_deallocate(mach_task_self(), dev), KERN_SUCCESS);
  EXPECT_AT_BASELINE(before);
}

/* An open device whose last send right goes without a close is closed (GNU Mach's
   device_no_senders): nothing is left behind. */
TEST(dropped_device_port_leaves_nothing) {
  struct mica_kernel_counters before = counters();
  for (int i = 0; i < 20; i++) {
    mach_port_t dev = open_vd0(i & 1 ? D_READ : D_READ | D_WRITE);
    ASSERT(dev != MACH_PORT_NULL);
    mach_msg_type_number_t n;
    free_ool(read_ool(dev, (recnum_t)i, kRecord, &n), n);
    EXPECT_EQ(mach_port_deallocate(mach_task_self(), dev), KERN_SUCCESS);
  }
  EXPECT_AT_BASELINE(before);
}

/* Messages built by hand whose data is shorter than they claim. */
TEST(data_shorter_than_claimed) {
  mach_port_t dev = open_vd0(D_READ | D_WRITE);
  ASSERT(dev != MACH_PORT_NULL);
  struct mica_kernel_counters before = counters();

  /* Out of line: two pages claimed, the second one not mapped. */
  char *data = (char *)alloc(2 * vm_page_size);
  ASSERT(data != NULL);
  EXPECT_EQ(vm_deallocate(mach_task_self(), (vm_address_t)data + vm_page_size, vm_page_size),
            KERN_SUCCESS);
  write_ool_request_t w;
  memset(&w, 0, sizeof w);
  w.mode_type = int_type(MACH_MSG_TYPE_INTEGER_32, 32);
  w.recnum_type = int_type(MACH_MSG_TYPE_INTEGER_64, 64);
  w.recnum = kScratch;
  w.data_type.msgtl_header.msgt_inline = FALSE;
  w.data_type.msgtl_header.msgt_longform = TRUE;
  w.data_type.msgtl_name = MACH_MSG_TYPE_INTEGER_8;
  w.data_type.msgtl_size = 8;
  w.data_type.msgtl_number = 2 * vm_page_size;
  w.data = (vm_address_t)data;
  EXPECT_EQ(raw_rpc(dev, &w.head, sizeof w, sizeof w, 2802, true), MACH_SEND_INVALID_MEMORY);
  /* The same message with one page is a good write. */
  memset(data, 'd', vm_page_size);
  w.data_type.msgtl_number = vm_page_size;
  EXPECT_EQ(raw_rpc(dev, &w.head, sizeof w, sizeof w, 2802, true), D_SUCCESS);
  vm_deallocate(mach_task_self(), (vm_address_t)data, vm_page_size);

  /* In band: a count the message does not hold (MIG's check), and a count the message does
     hold but device.defs does not allow (IO_INBAND_MAX). */
  write_inband_request_t b;
  memset(&b, 0, sizeof b);
  b.mode_type = int_type(MACH_MSG_TYPE_INTEGER_32, 32);
  b.recnum_type = int_type(MACH_MSG_TYPE_INTEGER_64, 64);
  b.recnum = kScratch;
  b.data_type = int_type(MACH_MSG_TYPE_CHAR, 8);
  b.data_type.msgt_number = IO_INBAND_MAX;
  mach_msg_size_t header_size = (mach_msg_size_t)offsetof(write_inband_request_t, data);
  EXPECT_EQ(raw_rpc(dev, &b.head, header_size + 8, sizeof b, 2803, false), MIG_BAD_ARGUMENTS);
  b.data_type.msgt_number = 400;
  EXPECT_EQ(raw_rpc(dev, &b.head, header_size + 400, sizeof b, 2803, false), D_INVALID_SIZE);
  EXPECT_AT_BASELINE(before);
  close_dev(dev);
}

/* Open, read, write and close many times over, with failures mixed in. */
TEST(io_leaves_object_counts_at_baseline) {
  struct mica_kernel_counters before = counters();
  char *buf = (char *)alloc(64 * kRecord);
  ASSERT(buf != NULL);
  for (int i = 0; i < 10; i++) {
    mach_port_t dev = open_vd0(D_READ | D_WRITE);
    ASSERT(dev != MACH_PORT_NULL);
    fill(buf, 64, kScratch + 100, (unsigned)i);
    int written = 0;
    EXPECT_EQ(device_write(dev, 0, kScratch + 100, buf, 64 * kRecord, &written), D_SUCCESS);
    mach_msg_type_number_t n;
    char *back = read_ool(dev, kScratch + 100, 64 * kRecord, &n);
    EXPECT(back && memcmp(back, buf, 64 * kRecord) == 0);
    free_ool(back, n);
    io_buf_ptr_t data = 0;
    EXPECT_EQ(device_read(dev, 0, kSectors, kRecord, &data, &n), D_INVALID_RECNUM);
    EXPECT_EQ(device_write(dev, 0, kSectors, buf, kRecord, &written), D_INVALID_RECNUM);
    close_dev(dev);
  }
  vm_deallocate(mach_task_self(), (vm_address_t)buf, 64 * kRecord);
  EXPECT_AT_BASELINE(before);
}

/* --- A task killed in the middle of its I/O. --- */

enum { kChildSector = 12288, kChildBytes = 256 * 1024 };
static mach_port_t child_device;  /* the open device's name in the child (set before fork) */
static char *child_buf;           /* inherited by the child */

/* The child's thread: device I/O in a loop until its task is terminated. */
static void io_child(long unused) {
  (void)unused;
  child_init();
  for (;;) {
    int written = 0;
    device_write(child_device, 0, kChildSector, child_buf, kChildBytes, &written);
    io_buf_ptr_t data = 0;
    mach_msg_type_number_t n = 0;
    if (device_read(child_device, 0, kChildSector, kChildBytes, &data, &n) == D_SUCCESS)
      vm_deallocate(mach_task_self(), (vm_address_t)data, n);
  }
}

/* The kernel finishes the transfer under way (the device owns its memory until then), the
   task goes, and nothing is left behind. When the dead child held the device's only send
   right, the device is closed with it. */
TEST(task_killed_during_io_leaves_nothing) {
  vm_address_t stack = alloc(kThreadStack);
  child_buf = (char *)alloc(kChildBytes);
  ASSERT(stack != 0 && child_buf != NULL);
  fill(child_buf, kChildBytes / kRecord, kChildSector, 9);
  msleep(1);  /* msleep keeps a port of its own from its first call on */
  struct mica_kernel_counters before = counters();
  for (int round = 0; round < 4; round++) {
    mach_port_t dev = open_vd0(D_READ | D_WRITE);
    ASSERT(dev != MACH_PORT_NULL);
    child_device = 0x4d00 + (mach_port_t)round;
    task_t child = MACH_PORT_NULL;
    ASSERT_EQ(task_create(mach_task_self(), TRUE, &child), KERN_SUCCESS);
    EXPECT_EQ(mach_port_insert_right(child, child_device, dev, MACH_MSG_TYPE_COPY_SEND),
              KERN_SUCCESS);
    bool child_only = round & 1;
    if (child_only)
      EXPECT_EQ(mach_port_deallocate(mach_task_self(), dev), KERN_SUCCESS);
    thread_t thread = start_thread_in(child, io_child, 0, stack, kThreadStack);
    EXPECT(thread != MACH_PORT_NULL);
    msleep(20 + 15 * (unsigned)round);
    EXPECT_EQ(task_terminate(child), KERN_SUCCESS);
    while (mach_port_deallocate(mach_task_self(), child) == KERN_SUCCESS) {
    }
    while (thread != MACH_PORT_NULL &&
           mach_port_deallocate(mach_task_self(), thread) == KERN_SUCCESS) {
    }
    /* The task goes once its thread has left the kernel, which a thread inside a transfer
       does when the device is done with it; its rights go with it. */
    for (int i = 0; i < 250 && counters().tasks != before.tasks; i++)
      msleep(20);
    EXPECT_EQ(counters().tasks, before.tasks);
    if (!child_only) {
      /* Our right still holds the device open, and it works. */
      mach_msg_type_number_t n;
      char *data = read_ool(dev, 3, kRecord, &n);
      EXPECT(data && pattern_ok(data, 3));
      free_ool(data, n);
      close_dev(dev);
    }
  }
  EXPECT_AT_BASELINE(before);
}

/* --- Two threads doing I/O at once (on two CPUs when there are two). --- */

struct worker {
  mach_port_t dev;
  unsigned id;
  char *buf;      /* kThreadSectors records, allocated by the main thread */
  volatile int done;
};

static void worker_main(void *arg) {
  struct worker *w = arg;
  unsigned first = kThreadSector + w->id * kThreadSectors;
  for (unsigned round = 0; round < kThreadRounds; round++) {
    fill(w->buf, kThreadSectors, first, 100 * w->id + round);
    int written = 0;
    EXPECT_EQ(device_write(w->dev, 0, first, w->buf, kThreadSectors * kRecord, &written),
              D_SUCCESS);
    mach_msg_type_number_t n;
    char *back = read_ool(w->dev, first, kThreadSectors * kRecord, &n);
    EXPECT(back && memcmp(back, w->buf, kThreadSectors * kRecord) == 0);
    free_ool(back, n);
    /* And some of the pattern, in records of various sizes. */
    unsigned at = 97 * (round + 1) + w->id * 1000;
    back = read_ool(w->dev, at, (int)(round + 1) * kRecord, &n);
    for (unsigned s = 0; back && s <= round; s++)
      EXPECT(pattern_ok(back + s * kRecord, at + s));
    free_ool(back, n);
  }
  __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

TEST(two_threads_at_once) {
  mach_port_t dev = open_vd0(D_READ | D_WRITE);
  ASSERT(dev != MACH_PORT_NULL);
  /* Each new thread keeps a reply port of its own: only memory and messages are compared. */
  struct mica_kernel_counters before = counters();
  static struct worker w[2];
  for (unsigned i = 0; i < 2; i++) {
    w[i].dev = dev;
    w[i].id = i;
    w[i].done = 0;
    w[i].buf = (char *)alloc(kThreadSectors * kRecord);
    ASSERT(w[i].buf != NULL);
  }
  for (unsigned i = 0; i < 2; i++) ASSERT(test_thread(worker_main, &w[i]) > 0);
  /* Sleeping, not spinning: a spinning main thread would hold a CPU the workers want back
     as soon as their I/O is done (a woken thread does not preempt one of its priority). */
  for (int ms = 0; ms < 60000 && !(w[0].done && w[1].done); ms += 5)
    msleep(5);
  EXPECT(w[0].done && w[1].done);
  for (unsigned i = 0; i < 2; i++)
    vm_deallocate(mach_task_self(), (vm_address_t)w[i].buf, kThreadSectors * kRecord);
  struct mica_kernel_counters after = counters();
  EXPECT_EQ(after.kmsgs, before.kmsgs);
  EXPECT_EQ(after.vm_objects, before.vm_objects);
  EXPECT_EQ(after.vm_map_entries, before.vm_map_entries);
  EXPECT_EQ(after.vm_copies, before.vm_copies);
  close_dev(dev);
}

int main(int argc, char **argv) {
  if (argc > 2)
    master = (mach_port_t)strtoul(argv[2], NULL, 10);
  return test_main(argc, argv);
}
