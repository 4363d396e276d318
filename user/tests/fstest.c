/* The minimal file system of seed 002 section 4.1 (docs/fs.md) from a client's side: files
   served as memory objects by user/servers/fsserver.c, found through the bootstrap name
   server, mapped with vm_map and read by touching them; the paper's fs_read_file and
   fs_write_file; the server's counters (fs_stats) to see the memory_object protocol at work.

   Mica only: the boot needs the bootstrap server, fsserver and a disk made by
   tools/make-fsimage.sh (tests/system/CMakeLists.txt, configurations fs1 and fs2). Apart from
   that, only the Mach ABI: <mach/...>, MIG stubs and mach_msg. The device master port
   (argv[2]) lets the tests read the disk behind the server's back, to see what reached it.

   Every file's bytes follow the rule of make-fsimage.sh: 16-byte records, record k being the
   file's tag letter, k in 14 hex digits and a newline, cut at the file's length. */
#include <device/device.h>
#include <mach.h>
#include <mach/task_special_ports.h>
#include <mach/vm_inherit.h>
#include <bootstrap.user.h>
#include <fs.user.h>
#include <mica/bootstrap.h>
#include <mica/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>
#include <test/test.h>

enum { kPage = 4096, kBlock = 4096, kRecord = 512, kCluster = 16, kChildStack = 64 * 1024 };

/* The files of tools/make-fsimage.sh (keep them in step). */
struct file {
  const char *name;
  char tag;
  uint64_t length;
  bool writable;
};
static const struct file kReadme = {"readme", 'r', 12345, false};
static const struct file kEmpty = {"empty", 'e', 0, false};
static const struct file kClusterFile = {"cluster", 'c', 40 * kPage, false};
static const struct file kBig = {"big", 'b', 6 << 20, false};
static const struct file kRw = {"rw", 'w', 12388, true};
static const struct file kShared = {"shared", 's', 8 * kPage, true};
static const struct file kScratch = {"scratch", 'x', 20000, true};
static const struct file kLongest = {"n2345678901234567890123456789012345678901234567", 'n', 100,
                                     false};
/* 8 blocks, of which the image holds the first 4 (make-fsimage.sh cuts it short). */
static const struct file kTruncated = {"truncated", 't', 8 * kPage, true};
static const struct file *const kFiles[] = {&kReadme, &kEmpty,   &kClusterFile, &kBig,     &kRw,
                                            &kShared, &kScratch, &kLongest,     &kTruncated};

static mach_port_t master;  /* the device master port, argv[2] */

/* --- Helpers --- */

static vm_size_t round_page(uint64_t n) {
  return (vm_size_t)((n + kPage - 1) & ~(uint64_t)(kPage - 1));
}

/* Record k of a file with tag t. */
static void record(char out[16], char t, uint64_t k) {
  static const char hex[] = "0123456789abcdef";
  out[0] = t;
  for (int i = 14; i >= 1; i--, k >>= 4)
    out[i] = hex[k & 15];
  out[15] = '\n';
}

/* The bytes of p[0, len) that differ from the file's bytes at [from, from + len). */
static uint64_t bad_bytes(const volatile char *p, char tag, uint64_t from, uint64_t len) {
  uint64_t bad = 0;
  char rec[16];
  uint64_t k = ~0ull;
  for (uint64_t i = 0; i < len; i++) {
    uint64_t off = from + i;
    if (off / 16 != k) {
      k = off / 16;
      record(rec, tag, k);
    }
    bad += p[i] != rec[off % 16];
  }
  return bad;
}

/* Bytes of p[0, len) that are not zero. */
static uint64_t nonzero_bytes(const volatile char *p, uint64_t len) {
  uint64_t n = 0;
  for (uint64_t i = 0; i < len; i++)
    n += p[i] != 0;
  return n;
}

/* The whole of a file as mapped or copied at p: its bytes, then zeros to the page's end. */
static void expect_file_at(const volatile char *p, const struct file *f) {
  EXPECT_EQ(bad_bytes(p, f->tag, 0, f->length), 0);
  EXPECT_EQ(nonzero_bytes(p + f->length, round_page(f->length) - f->length), 0);
}

static mach_port_t fs_port;

/* The server's port, looked up once: it checks in after it has read the disk, maybe after we
   started. */
static mach_port_t fs(void) {
  if (fs_port == MACH_PORT_NULL) {
    mach_port_t bs = MACH_PORT_NULL;
    if (task_get_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, &bs) != KERN_SUCCESS)
      return MACH_PORT_NULL;
    WAIT_UNTIL(bootstrap_look_up(bs, FS_SERVICE_NAME, &fs_port) == KERN_SUCCESS, 30000);
  }
  return fs_port;
}

static fs_stats_t stats_of(const struct file *f) {
  fs_stats_t s;
  memset(&s, 0xee, sizeof s);
  kern_return_t kr = fs_stats(fs(), f->name, &s);
  if (kr != KERN_SUCCESS)
    test_fail(__FILE__, __LINE__, "fs_stats(%s): 0x%x", f->name, kr);
  return s;
}

/* fs_open of f, checked against the table; the memory object, or MACH_PORT_NULL. */
static mach_port_t open_file(const struct file *f) {
  mach_port_t object = MACH_PORT_NULL;
  uint64_t size = ~0ull;
  boolean_t writable = 2;
  kern_return_t kr = fs_open(fs(), f->name, &object, &size, &writable);
  if (kr != KERN_SUCCESS) {
    test_fail(__FILE__, __LINE__, "fs_open(%s): 0x%x", f->name, kr);
    return MACH_PORT_NULL;
  }
  EXPECT_EQ(size, f->length);
  EXPECT_EQ(writable, f->writable);
  return object;
}

/* vm_map of object's first size bytes, anywhere, with prot as current and maximum access. */
static vm_address_t map(mach_port_t object, vm_size_t size, vm_prot_t prot) {
  vm_address_t a = 0;
  kern_return_t kr =
      vm_map(mach_task_self(), &a, size, 0, TRUE, object, 0, FALSE, prot, prot, VM_INHERIT_NONE);
  if (kr != KERN_SUCCESS) {
    test_fail(__FILE__, __LINE__, "vm_map: 0x%x", kr);
    return 0;
  }
  return a;
}

/* Unmaps and waits until the server has seen f's object terminate `terminates` times in
   all (the kernel keeps no object without a mapping: docs/pager.md, "Cached objects"). */
static void unmap_and_wait(vm_address_t a, vm_size_t size, const struct file *f,
                           natural_t terminates) {
  KR_OK(vm_deallocate(mach_task_self(), a, size));
  EXPECT(WAIT_UNTIL(stats_of(f).terminates >= terminates, 5000));
}

/* mach_msg sends the message whose header lies at addr: the kernel reads the page (copyin)
   first. A page it cannot have fails the send with MACH_SEND_INVALID_DATA; a page it can
   holds file data, no valid header, and fails otherwise. */
static mach_msg_return_t kernel_reads(vm_address_t addr) {
  return mach_msg((mach_msg_header_t *)addr, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                  sizeof(mach_msg_header_t), 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

/* The disk, read behind the server's back: bytes [from, from + len) of file f (at most a
   block), read with device_read of its blocks, into out. */
static bool read_disk(const struct file *f, uint64_t from, char *out, size_t len) {
  mach_port_t dev = MACH_PORT_NULL;
  if (device_open(master, D_READ, "vd0", &dev) != D_SUCCESS)
    return false;
  io_buf_ptr_t data = 0;
  mach_msg_type_number_t n = 0;
  bool ok = false;
  // Block 0: the superblock's head (64 bytes), then 64-byte entries (docs/fs.md).
  if (device_read(dev, 0, 0, kBlock, &data, &n) == D_SUCCESS && n == kBlock) {
    uint32_t files = *(uint32_t *)(data + 20);
    uint32_t first_block = 0;
    for (uint32_t i = 0; i < files && i < 63; i++) {
      const char *e = data + 64 + 64 * i;
      if (strcmp(e, f->name) == 0)
        first_block = *(const uint32_t *)(e + 48);
    }
    vm_deallocate(mach_task_self(), (vm_address_t)data, n);
    uint64_t at = (uint64_t)first_block * kBlock + from;
    uint64_t rec = at / kRecord, skip = at % kRecord;
    int bytes = (int)((skip + len + kRecord - 1) / kRecord * kRecord);
    if (first_block != 0 &&
        device_read(dev, 0, (recnum_t)rec, bytes, &data, &n) == D_SUCCESS &&
        n == (mach_msg_type_number_t)bytes) {
      memcpy(out, data + skip, len);
      vm_deallocate(mach_task_self(), (vm_address_t)data, n);
      ok = true;
    }
  }
  device_close(dev);
  mach_port_deallocate(mach_task_self(), dev);
  return ok;
}

/* --- Finding the server, opening files --- */

TEST(server_found_and_files_opened) {
  ASSERT(MACH_PORT_VALID(fs()));
  for (size_t i = 0; i < sizeof kFiles / sizeof kFiles[0]; i++) {
    mach_port_t object = open_file(kFiles[i]);
    EXPECT(MACH_PORT_VALID(object));
    EXPECT_EQ(ptype(object), MACH_PORT_TYPE_SEND);
    // A file is one memory object: a second open gives the same port, so the same name.
    EXPECT_EQ(open_file(kFiles[i]), object);
  }
}

/* --- Mapping files and reading them by touching them --- */

TEST(read_only_mapping_reads_the_file) {
  fs_stats_t before = stats_of(&kReadme);
  mach_port_t object = open_file(&kReadme);
  ASSERT(object != MACH_PORT_NULL);
  vm_size_t size = round_page(kReadme.length);  // 4 pages, the last one partly the file's
  vm_address_t a = map(object, size, VM_PROT_READ);
  ASSERT(a != 0);
  EXPECT_EQ(stats_of(&kReadme).data_requests, before.data_requests);  // nothing asked yet
  expect_file_at((const char *)a, &kReadme);
  // The fault waited for memory_object_init's answer (ready), then asked for the data.
  fs_stats_t read = stats_of(&kReadme);
  EXPECT_EQ(read.inits, before.inits + 1);
  EXPECT_EQ(read.data_requests, before.data_requests + 1);  // 4 pages: one cluster
  EXPECT_EQ(read.pages_requested, before.pages_requested + 4);
  EXPECT_EQ(read.pages_supplied, before.pages_supplied + 4);
  // Read again: every page is resident now, the server is not asked.
  expect_file_at((const char *)a, &kReadme);
  EXPECT_EQ(stats_of(&kReadme).data_requests, read.data_requests);
  // Read-only: a write is refused by the kernel (vm_write checks the map's protection).
  EXPECT_EQ(vm_write(mach_task_self(), a, a, kPage), KERN_PROTECTION_FAILURE);
  unmap_and_wait(a, size, &kReadme, before.terminates + 1);
  fs_stats_t after = stats_of(&kReadme);
  EXPECT_EQ(after.data_returns, before.data_returns);  // clean pages are not returned
  EXPECT_EQ(after.read_errors, 0);
}

TEST(one_data_request_per_cluster) {
  fs_stats_t before = stats_of(&kClusterFile);
  mach_port_t object = open_file(&kClusterFile);
  ASSERT(object != MACH_PORT_NULL);
  vm_address_t a = map(object, kClusterFile.length, VM_PROT_READ);
  ASSERT(a != 0);
  expect_file_at((const char *)a, &kClusterFile);
  // 40 pages read in order: faults at pages 0, 16 and 32, each asking its page and the
  // mapping's next 15 (or up to the end).
  fs_stats_t read = stats_of(&kClusterFile);
  EXPECT_EQ(read.data_requests, before.data_requests + 3);
  EXPECT_EQ(read.pages_requested, before.pages_requested + 40);
  expect_file_at((const char *)a, &kClusterFile);
  EXPECT_EQ(stats_of(&kClusterFile).data_requests, read.data_requests);
  unmap_and_wait(a, kClusterFile.length, &kClusterFile, before.terminates + 1);
}

TEST(big_file_mapped_and_read) {
  fs_stats_t before = stats_of(&kBig);
  mach_port_t object = open_file(&kBig);
  ASSERT(object != MACH_PORT_NULL);
  vm_address_t a = map(object, kBig.length, VM_PROT_READ);
  ASSERT(a != 0);
  expect_file_at((const char *)a, &kBig);
  fs_stats_t read = stats_of(&kBig);
  EXPECT_EQ(read.data_requests, before.data_requests + kBig.length / kPage / kCluster);
  EXPECT_EQ(read.pages_requested, before.pages_requested + kBig.length / kPage);
  expect_file_at((const char *)a, &kBig);
  EXPECT_EQ(stats_of(&kBig).data_requests, read.data_requests);
  unmap_and_wait(a, kBig.length, &kBig, before.terminates + 1);
}

TEST(pages_past_the_end_fail) {
  fs_stats_t before = stats_of(&kReadme);
  mach_port_t object = open_file(&kReadme);
  ASSERT(object != MACH_PORT_NULL);
  vm_address_t a = map(object, 8 * kPage, VM_PROT_READ);  // 4 pages more than the file has
  ASSERT(a != 0);
  EXPECT_EQ(bad_bytes((const char *)a, 'r', 0, 64), 0);
  // The one request covered the mapping: 4 pages supplied, 4 refused with data_error.
  fs_stats_t read = stats_of(&kReadme);
  EXPECT_EQ(read.data_requests, before.data_requests + 1);
  EXPECT_EQ(read.pages_supplied, before.pages_supplied + 4);
  EXPECT_EQ(read.pages_past_end, before.pages_past_end + 4);
  // The kernel keeps no answer for pages it only read ahead: an access past the end asks
  // (for pages 5 to 7), is refused, and fails; the next one asks again.
  for (int i = 1; i <= 2; i++) {
    EXPECT_EQ(kernel_reads(a + 5 * kPage), MACH_SEND_INVALID_DATA);
    fs_stats_t now = stats_of(&kReadme);
    EXPECT_EQ(now.data_requests, read.data_requests + i);
    EXPECT_EQ(now.pages_past_end, read.pages_past_end + 3 * i);
  }
  // The file's pages are unharmed.
  expect_file_at((const char *)a, &kReadme);
  unmap_and_wait(a, 8 * kPage, &kReadme, before.terminates + 1);

  // A 0-byte file has no page at all.
  before = stats_of(&kEmpty);
  object = open_file(&kEmpty);
  ASSERT(object != MACH_PORT_NULL);
  a = map(object, kPage, VM_PROT_READ);
  ASSERT(a != 0);
  EXPECT_EQ(kernel_reads(a), MACH_SEND_INVALID_DATA);
  EXPECT_EQ(stats_of(&kEmpty).pages_past_end, before.pages_past_end + 1);
  unmap_and_wait(a, kPage, &kEmpty, before.terminates + 1);
}

/* --- Writing through a mapping --- */

static const char kMarker[] = "written through a mapping";

TEST(written_pages_returned_to_the_disk) {
  fs_stats_t before = stats_of(&kRw);
  mach_port_t object = open_file(&kRw);
  ASSERT(object != MACH_PORT_NULL);
  vm_size_t size = round_page(kRw.length);  // 4 pages: 12388 bytes
  char *p = (char *)map(object, size, VM_PROT_READ | VM_PROT_WRITE);
  ASSERT(p != NULL);
  expect_file_at(p, &kRw);
  // Page 1 and the last page change; page 0 and 2 are only read. A byte past the end of the
  // file changes too: it must not reach the disk.
  memcpy(p + kPage + 100, kMarker, sizeof kMarker);
  memcpy(p + kRw.length - sizeof kMarker, kMarker, sizeof kMarker);
  p[kRw.length + 10] = 'X';
  unmap_and_wait((vm_address_t)p, size, &kRw, before.terminates + 1);
  fs_stats_t after = stats_of(&kRw);
  EXPECT_EQ(after.data_returns, before.data_returns + 2);  // only the dirty pages
  EXPECT_EQ(after.pages_written, before.pages_written + 2);
  EXPECT_EQ(after.write_errors, 0);

  // On the disk, read behind the server's back.
  char disk[sizeof kMarker];
  ASSERT(read_disk(&kRw, kPage + 100, disk, sizeof disk));
  EXPECT(memcmp(disk, kMarker, sizeof kMarker) == 0);
  ASSERT(read_disk(&kRw, kRw.length - sizeof kMarker, disk, sizeof disk));
  EXPECT(memcmp(disk, kMarker, sizeof kMarker) == 0);

  // A new mapping (a new object: init again) reads the new bytes from the disk.
  p = (char *)map(open_file(&kRw), size, VM_PROT_READ);
  ASSERT(p != NULL);
  EXPECT(memcmp(p + kPage + 100, kMarker, sizeof kMarker) == 0);
  EXPECT_EQ(stats_of(&kRw).inits, before.inits + 2);
  EXPECT(memcmp(p + kRw.length - sizeof kMarker, kMarker, sizeof kMarker) == 0);
  EXPECT_EQ(bad_bytes(p, 'w', 0, kPage + 100), 0);
  EXPECT_EQ(bad_bytes(p + kPage + 100 + sizeof kMarker, 'w', kPage + 100 + sizeof kMarker,
                      kRw.length - sizeof kMarker - (kPage + 100 + sizeof kMarker)),
            0);
  EXPECT_EQ(nonzero_bytes(p + kRw.length, size - kRw.length), 0);  // the 'X' is gone
  unmap_and_wait((vm_address_t)p, size, &kRw, before.terminates + 2);
}

TEST(read_only_file_writes_dropped) {
  fs_stats_t before = stats_of(&kLongest);
  mach_port_t object = open_file(&kLongest);  // 47 characters: the longest name there is
  ASSERT(object != MACH_PORT_NULL);
  char *p = (char *)map(object, kPage, VM_PROT_READ | VM_PROT_WRITE);
  ASSERT(p != NULL);
  expect_file_at(p, &kLongest);
  p[3] = '#';  // the kernel lets us: the mapping is writable
  EXPECT_EQ(p[3], '#');
  unmap_and_wait((vm_address_t)p, kPage, &kLongest, before.terminates + 1);
  fs_stats_t after = stats_of(&kLongest);
  EXPECT_EQ(after.data_returns, before.data_returns + 1);
  EXPECT_EQ(after.returns_ignored, before.returns_ignored + 1);
  EXPECT_EQ(after.pages_written, before.pages_written);
  p = (char *)map(object, kPage, VM_PROT_READ);
  ASSERT(p != NULL);
  expect_file_at(p, &kLongest);  // as on the disk
  unmap_and_wait((vm_address_t)p, kPage, &kLongest, before.terminates + 2);
}

/* --- Two tasks --- */

struct child_report {
  volatile int phase;  // 1: done
  volatile kern_return_t look_up_kr, open_kr, map_kr;
  volatile uint64_t size;
  volatile uint64_t bad;  // bytes other than page 2's first ones that differ from the file
  char page2[64];         // the first bytes of page 2, as the child saw them
};

/* Runs in the child task (inherited memory; the report page is shared): finds the server,
   opens and maps "shared" itself, and reads all of it. */
static void __attribute__((noreturn)) child_reads_shared(long arg) {
  struct child_report *r = (struct child_report *)arg;
  child_init();
  mach_port_t bs = MACH_PORT_NULL, server = MACH_PORT_NULL, object = MACH_PORT_NULL;
  task_get_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, &bs);
  r->look_up_kr = bootstrap_look_up(bs, FS_SERVICE_NAME, &server);
  uint64_t size = 0;
  boolean_t writable = FALSE;
  r->open_kr = fs_open(server, kShared.name, &object, &size, &writable);
  r->size = size;
  vm_address_t a = 0;
  r->map_kr = vm_map(mach_task_self(), &a, kShared.length, 0, TRUE, object, 0, FALSE,
                     VM_PROT_READ, VM_PROT_READ, VM_INHERIT_NONE);
  if (r->map_kr == KERN_SUCCESS) {
    const char *p = (const char *)a;
    r->bad = bad_bytes(p, 's', 0, 2 * kPage) +
             bad_bytes(p + 2 * kPage + 64, 's', 2 * kPage + 64, kShared.length - 2 * kPage - 64);
    memcpy(r->page2, p + 2 * kPage, sizeof r->page2);
  }
  __atomic_store_n(&r->phase, 1, __ATOMIC_RELEASE);
  child_idle();
}

TEST(two_tasks_map_one_file) {
  fs_stats_t before = stats_of(&kShared);
  vm_address_t shared = 0, stack = 0;
  KR_OK(vm_allocate(mach_task_self(), &shared, kPage, TRUE));
  KR_OK(vm_allocate(mach_task_self(), &stack, kChildStack, TRUE));
  KR_OK(vm_inherit(mach_task_self(), shared, kPage, VM_INHERIT_SHARE));
  struct child_report *r = (struct child_report *)shared;

  // Our mapping, written: the child's mapping of the same object must see our bytes.
  char *p = (char *)map(open_file(&kShared), kShared.length, VM_PROT_READ | VM_PROT_WRITE);
  ASSERT(p != NULL);
  memcpy(p + 2 * kPage, kMarker, sizeof kMarker);

  task_t child = MACH_PORT_NULL;
  KR_OK(task_create(mach_task_self(), TRUE, &child));
  thread_t thread = start_thread_in(child, child_reads_shared, (long)shared, stack, kChildStack);
  EXPECT_NE(thread, MACH_PORT_NULL);
  EXPECT(WAIT_UNTIL(__atomic_load_n(&r->phase, __ATOMIC_ACQUIRE) == 1, 10000));
  EXPECT_EQ(r->look_up_kr, KERN_SUCCESS);
  EXPECT_EQ(r->open_kr, KERN_SUCCESS);
  EXPECT_EQ(r->size, kShared.length);
  EXPECT_EQ(r->map_kr, KERN_SUCCESS);
  EXPECT_EQ(r->bad, 0);
  EXPECT(memcmp(r->page2, kMarker, sizeof kMarker) == 0);
  // One object for both tasks: one init, and each page asked for once.
  fs_stats_t read = stats_of(&kShared);
  EXPECT_EQ(read.inits, before.inits + 1);
  EXPECT_EQ(read.pages_requested, before.pages_requested + kShared.length / kPage);
  KR_OK(task_terminate(child));
  destroy(thread);
  destroy(child);
  unmap_and_wait((vm_address_t)p, kShared.length, &kShared, before.terminates + 1);
  EXPECT_EQ(stats_of(&kShared).pages_written, before.pages_written + 1);
  vm_deallocate(mach_task_self(), stack, kChildStack);
  vm_deallocate(mach_task_self(), shared, kPage);
}

/* --- The paper's calls: fs_read_file and fs_write_file --- */

TEST(read_file_gives_a_copy) {
  fs_stats_t before = stats_of(&kBig);
  vm_offset_t data = 0;
  mach_msg_type_number_t n = 0;
  KR_OK(fs_read_file(fs(), kBig.name, &data, &n));
  ASSERT_EQ(n, kBig.length);
  ASSERT(data != 0);
  expect_file_at((const char *)data, &kBig);
  // The server mapped the object, touched it (one request per cluster) and let it go with
  // the reply: the object terminated, our copy lives on.
  EXPECT(WAIT_UNTIL(stats_of(&kBig).terminates == before.terminates + 1, 5000));
  fs_stats_t after = stats_of(&kBig);
  EXPECT_EQ(after.data_requests, before.data_requests + kBig.length / kPage / kCluster);
  // Our copy is ours: changes stay in it, and the next reader gets the file.
  char *p = (char *)data;
  p[0] = '!';
  p[kBig.length - 1] = '!';
  vm_offset_t again = 0;
  mach_msg_type_number_t m = 0;
  KR_OK(fs_read_file(fs(), kBig.name, &again, &m));
  ASSERT_EQ(m, kBig.length);
  expect_file_at((const char *)again, &kBig);
  EXPECT_EQ(p[0], '!');
  EXPECT_EQ(stats_of(&kBig).data_returns, after.data_returns);  // the server's copy was clean
  KR_OK(vm_deallocate(mach_task_self(), data, n));
  KR_OK(vm_deallocate(mach_task_self(), again, m));

  // A length that is no page multiple: zeros after the end, in the last page.
  KR_OK(fs_read_file(fs(), kReadme.name, &data, &n));
  ASSERT_EQ(n, kReadme.length);
  expect_file_at((const char *)data, &kReadme);
  KR_OK(vm_deallocate(mach_task_self(), data, n));
  // No bytes, no memory.
  data = 1;
  n = 1;
  KR_OK(fs_read_file(fs(), kEmpty.name, &data, &n));
  EXPECT_EQ(n, 0);
}

TEST(write_file_through_the_object) {
  fs_stats_t before = stats_of(&kScratch);
  enum { kWrite = 5000 };  // the first page and some of the second
  vm_address_t buf = 0;
  KR_OK(vm_allocate(mach_task_self(), &buf, kWrite, TRUE));
  for (int i = 0; i < kWrite; i++)
    ((char *)buf)[i] = (char)('A' + i % 26);

  // A mapping made before the write sees it at once: same object.
  vm_size_t size = round_page(kScratch.length);
  char *p = (char *)map(open_file(&kScratch), size, VM_PROT_READ);
  ASSERT(p != NULL);
  EXPECT_EQ(p[0], 'x');
  KR_OK(fs_write_file(fs(), kScratch.name, buf, kWrite));
  EXPECT(memcmp(p, (const char *)buf, kWrite) == 0);
  EXPECT_EQ(bad_bytes(p + kWrite, 'x', kWrite, kScratch.length - kWrite), 0);
  // fs_read_file too.
  vm_offset_t data = 0;
  mach_msg_type_number_t n = 0;
  KR_OK(fs_read_file(fs(), kScratch.name, &data, &n));
  ASSERT_EQ(n, kScratch.length);
  EXPECT(memcmp((const char *)data, (const char *)buf, kWrite) == 0);
  EXPECT_EQ(bad_bytes((const char *)data + kWrite, 'x', kWrite, kScratch.length - kWrite), 0);
  KR_OK(vm_deallocate(mach_task_self(), data, n));
  // Our mapping was the last: the kernel returns the two written pages, to the disk.
  unmap_and_wait((vm_address_t)p, size, &kScratch, before.terminates + 1);
  fs_stats_t after = stats_of(&kScratch);
  EXPECT_EQ(after.pages_written, before.pages_written + 2);
  char disk[64];
  ASSERT(read_disk(&kScratch, kWrite - 32, disk, sizeof disk));
  EXPECT(memcmp(disk, (const char *)buf + kWrite - 32, 32) == 0);
  EXPECT_EQ(bad_bytes(disk + 32, 'x', kWrite, 32), 0);

  // What cannot be written.
  EXPECT_EQ(fs_write_file(fs(), kReadme.name, buf, 10), FS_READ_ONLY);
  EXPECT_EQ(fs_write_file(fs(), kRw.name, buf, 0), KERN_SUCCESS);
  vm_address_t big = 0;
  KR_OK(vm_allocate(mach_task_self(), &big, round_page(kScratch.length + 1), TRUE));
  EXPECT_EQ(fs_write_file(fs(), kScratch.name, big, kScratch.length + 1), FS_NO_SPACE);
  EXPECT_EQ(fs_write_file(fs(), "nosuchfile", buf, 10), FS_NO_SUCH_FILE);
  KR_OK(vm_deallocate(mach_task_self(), big, round_page(kScratch.length + 1)));
  KR_OK(vm_deallocate(mach_task_self(), buf, kWrite));
}

/* --- A damaged disk --- */

TEST(disk_errors_fail_the_access_not_the_server) {
  fs_stats_t before = stats_of(&kTruncated);
  char *p = (char *)map(open_file(&kTruncated), kTruncated.length, VM_PROT_READ);
  ASSERT(p != NULL);
  // One request for the 8 pages: the disk gave 4, the server refused the others.
  EXPECT_EQ(bad_bytes(p, 't', 0, 4 * kPage), 0);
  fs_stats_t read = stats_of(&kTruncated);
  EXPECT_EQ(read.data_requests, before.data_requests + 1);
  EXPECT_EQ(read.pages_supplied, before.pages_supplied + 4);
  EXPECT_EQ(read.read_errors, before.read_errors + 1);
  EXPECT_EQ(kernel_reads((vm_address_t)p + 6 * kPage), MACH_SEND_INVALID_DATA);
  EXPECT_EQ(stats_of(&kTruncated).read_errors, before.read_errors + 2);
  unmap_and_wait((vm_address_t)p, kTruncated.length, &kTruncated, before.terminates + 1);
  // fs_read_file: the server's own touch of the missing pages fails, and so does the call;
  // the server lives on.
  vm_offset_t data = 0;
  mach_msg_type_number_t n = 0;
  EXPECT_EQ(fs_read_file(fs(), kTruncated.name, &data, &n), FS_IO_ERROR);
  EXPECT(WAIT_UNTIL(stats_of(&kTruncated).terminates == before.terminates + 2, 5000));
  KR_OK(fs_read_file(fs(), kReadme.name, &data, &n));
  ASSERT_EQ(n, kReadme.length);
  expect_file_at((const char *)data, &kReadme);
  KR_OK(vm_deallocate(mach_task_self(), data, n));
  // fs_write_file: the copy into page 4 fails, and so does the call. The 4 pages before it
  // were written, and reach the disk when the object goes.
  vm_address_t buf = 0;
  KR_OK(vm_allocate(mach_task_self(), &buf, 5 * kPage, TRUE));
  memset((void *)buf, '=', 5 * kPage);
  EXPECT_EQ(fs_write_file(fs(), kTruncated.name, buf, 5 * kPage), FS_IO_ERROR);
  EXPECT(WAIT_UNTIL(stats_of(&kTruncated).terminates == before.terminates + 3, 5000));
  fs_stats_t written = stats_of(&kTruncated);
  EXPECT_EQ(written.pages_written, before.pages_written + 4);
  EXPECT_EQ(written.write_errors, 0);
  char disk[16];
  ASSERT(read_disk(&kTruncated, 4 * kPage - sizeof disk, disk, sizeof disk));
  EXPECT(memcmp(disk, (const char *)buf, sizeof disk) == 0);
  KR_OK(vm_deallocate(mach_task_self(), buf, 5 * kPage));
  EXPECT(MACH_PORT_VALID(open_file(&kReadme)));  // still serving
}

/* --- Bad input --- */

TEST(unknown_and_bad_names_refused) {
  mach_port_t object = 99;
  uint64_t size = 99;
  boolean_t writable = 99;
  EXPECT_EQ(fs_open(fs(), "nosuchfile", &object, &size, &writable), FS_NO_SUCH_FILE);
  EXPECT_EQ(fs_open(fs(), "", &object, &size, &writable), FS_BAD_NAME);
  EXPECT_EQ(fs_open(fs(), "README", &object, &size, &writable), FS_NO_SUCH_FILE);
  // 48 characters: one more than the disk's names have.
  char name[300];
  memset(name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  memcpy(name, kLongest.name, 47);
  name[48] = '\0';
  EXPECT_EQ(fs_open(fs(), name, &object, &size, &writable), FS_BAD_NAME);
  // 299: the stub cuts it to 127, still too long.
  name[48] = 'n';
  EXPECT_EQ(fs_open(fs(), name, &object, &size, &writable), FS_BAD_NAME);
  // 47: the longest name there is.
  name[47] = '\0';
  EXPECT_EQ(fs_open(fs(), name, &object, &size, &writable), KERN_SUCCESS);
  EXPECT_EQ(size, kLongest.length);
  vm_offset_t data = 0;
  mach_msg_type_number_t n = 0;
  EXPECT_EQ(fs_read_file(fs(), "nosuchfile", &data, &n), FS_NO_SUCH_FILE);
  EXPECT_EQ(fs_read_file(fs(), "", &data, &n), FS_BAD_NAME);
  fs_stats_t s;
  EXPECT_EQ(fs_stats(fs(), "nosuchfile", &s), FS_NO_SUCH_FILE);
}

TEST(bad_server_ports_refused) {
  mach_port_t object = MACH_PORT_NULL;
  uint64_t size = 0;
  boolean_t writable = FALSE;
  EXPECT_EQ(fs_open(MACH_PORT_NULL, kReadme.name, &object, &size, &writable),
            MACH_SEND_INVALID_DEST);
  EXPECT_EQ(fs_open(MACH_PORT_DEAD, kReadme.name, &object, &size, &writable),
            MACH_SEND_INVALID_DEST);
  EXPECT_EQ(fs_open(0x7777, kReadme.name, &object, &size, &writable), MACH_SEND_INVALID_DEST);
  // A port whose server does not speak fs.defs: the kernel (our task port) and the file
  // server's own memory objects (memory_object.defs) answer MIG_BAD_ID.
  EXPECT_EQ(fs_open(mach_task_self(), kReadme.name, &object, &size, &writable), MIG_BAD_ID);
  mach_port_t readme = open_file(&kReadme);
  ASSERT(readme != MACH_PORT_NULL);
  EXPECT_EQ(fs_open(readme, kReadme.name, &object, &size, &writable), MIG_BAD_ID);
  // A dead name: a receive right of ours, destroyed, under a send right we kept.
  mach_port_t gone = receive_and_send();
  KR_OK(mach_port_mod_refs(mach_task_self(), gone, MACH_PORT_RIGHT_RECEIVE, -1));
  EXPECT_EQ(ptype(gone), MACH_PORT_TYPE_DEAD_NAME);
  EXPECT_EQ(fs_open(gone, kReadme.name, &object, &size, &writable), MACH_SEND_INVALID_DEST);
  destroy(gone);
  // The server is still there.
  EXPECT_EQ(fs_open(fs(), kReadme.name, &object, &size, &writable), KERN_SUCCESS);
}

int main(int argc, char **argv) {
  if (argc > 2)
    master = (mach_port_t)strtoul(argv[2], NULL, 10);
  return test_main(argc, argv);
}
