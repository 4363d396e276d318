/* The minimal file system of seed 002 section 4.1 (docs/fs.md): a server whose files are
   memory objects. It reads a file table from the disk "vd0", makes one memory object (a port
   it receives on) per file, and serves two interfaces:

   - include/mica/fs.defs, for clients, on the port it checks in with the bootstrap name
     server as "fs": fs_open (the file's memory object, for the client to vm_map),
     fs_read_file and fs_write_file (the paper's whole-file calls, through a mapping of the
     object in this task), fs_stats (a file's counters, for tests).
   - memory_object.defs, for the kernel, on the files' ports: each first touch of a page of a
     mapped file is a fault that the kernel turns into memory_object_data_request; the server
     reads the blocks with device_read and answers memory_object_data_supply. Dirty pages of
     writable files come back with memory_object_data_return and go to the disk with
     device_write; those of read-only files are dropped.

   Boot it after the bootstrap server, with GNU Mach's boot words (it needs ${device-port} as
   argv[2]); the disk is made by tools/make-fsimage.sh. Mica only: GNU Mach's boot script has
   no $(bootstrap-server) word, so there is no name server to check in with there.

   Threads: the main thread serves fs.defs; a pager thread serves every file's memory object
   (one port set); an exception thread catches the main thread's faults on its own mappings
   of the files (fs_read_file and fs_write_file touch their pages), so that a page the disk
   cannot give fails the call instead of killing the server. The main thread's faults are
   served by the pager thread, which never waits for the main thread. The server never exits
   (the boot ends through another task's host_reboot). */
#include <cthreads/cthreads.h>
#include <device/device.h>
#include <mach.h>
#include <mach/exception.h>
#include <mach/memory_object.h>
#include <mach/task_special_ports.h>
#include <mach/thread_special_ports.h>
#include <mach/thread_status.h>
#include <bootstrap.user.h>
#include <mica/bootstrap.h>
#include <mica/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The demultiplexers MIG generates: fs.defs (serverprefix do_), memory_object.defs and
   exc.defs (their routines below take every argument of the .defs, used or not). */
boolean_t fs_server(mach_msg_header_t *request, mach_msg_header_t *reply);
boolean_t memory_object_server(mach_msg_header_t *request, mach_msg_header_t *reply);
boolean_t exc_server(mach_msg_header_t *request, mach_msg_header_t *reply);
kern_return_t catch_exception_raise(mach_port_t exception_port, mach_port_t thread,
                                    mach_port_t task, integer_t exception, integer_t code,
                                    rpc_long_integer_t subcode);
#pragma GCC diagnostic ignored "-Wunused-parameter"

enum {
  kPage = 4096,
  kBlock = 4096,           /* the file system's block: one page */
  kRecord = 512,           /* the disk's record (docs/device.md) */
  kMaxFiles = 63,          /* entries that fit in block 0 after the superblock's head */
  kNameField = 48,         /* an entry's name field: 1..47 characters and a NUL */
  kReadChunk = 1 << 20,    /* the largest device_read of one data request */
  kVersion = 1,
};

/* Block 0 of the disk (docs/fs.md): this head, then kMaxFiles entries from byte 64. All
   integers little-endian, as x86-64 has them. */
struct disk_super {
  char magic[8];   /* "MICAFS01" */
  uint32_t version;
  uint32_t block_size;
  uint32_t blocks;  /* blocks the file system uses, block 0 included */
  uint32_t files;   /* entries in use, from the first */
  uint8_t unused[40];
};
struct disk_entry {
  char name[kNameField];  /* NUL-padded */
  uint32_t first_block;
  uint32_t flags;         /* kWritable */
  uint64_t length;        /* bytes */
};
_Static_assert(sizeof(struct disk_super) == 64, "superblock head");
_Static_assert(sizeof(struct disk_entry) == 64, "file table entry");
_Static_assert(sizeof(struct disk_super) + kMaxFiles * sizeof(struct disk_entry) == kBlock,
               "block 0");
enum { kWritable = 1 };

struct file {
  char name[kNameField];
  uint64_t first_block;
  uint64_t length;
  bool writable;
  mach_port_t object;  /* receive right and one send right (for our own vm_map) */
  fs_stats_t stats;    /* written by the pager thread, read by the main thread */
};

static struct file files[kMaxFiles];
static int nfiles;
static mach_port_t disk;           /* vd0, opened for reading (and writing if it can be) */
static mach_port_t service_port;   /* fs.defs requests: the receive right from check_in */
static mach_port_t pager_set;      /* every file's memory object */
static mach_port_t exception_port; /* the main thread's exceptions */

static void count(natural_t *counter, natural_t n) {
  __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static vm_size_t round_page(uint64_t n) {
  return (vm_size_t)((n + kPage - 1) & ~(uint64_t)(kPage - 1));
}

static struct file *file_of_object(mach_port_t object) {
  for (int i = 0; i < nfiles; i++)
    if (files[i].object == object)
      return &files[i];
  return NULL;
}

/* The file called name: FS_BAD_NAME for the empty name or one longer than an entry holds,
   FS_NO_SUCH_FILE if no entry has it. */
static kern_return_t look_up(const char *name, struct file **out) {
  *out = NULL;
  size_t len = strnlen(name, FS_NAME_MAX);
  if (len == 0 || len > FS_FILE_NAME_MAX)
    return FS_BAD_NAME;
  for (int i = 0; i < nfiles; i++)
    if (strcmp(files[i].name, name) == 0) {
      *out = &files[i];
      return KERN_SUCCESS;
    }
  return FS_NO_SUCH_FILE;
}

/* --- Touching our own mappings without dying of it ---
   fs_probe(p) reads the byte at p and returns 1; fs_copy(dst, src, n) copies n bytes and
   returns 1. If an access of theirs faults (the pager answered data_error, or nothing within
   the kernel's bound), the exception thread moves the thread to fs_access_failed, which
   returns 0. Neither touches the stack before its accesses, so the return stays valid. */
int fs_probe(const volatile void *p);
int fs_copy(void *dst, const void *src, size_t n);
extern const char fs_probe_load[], fs_copy_quads[], fs_copy_bytes[], fs_access_failed[];
__asm__(".text\n"
        ".globl fs_probe, fs_copy, fs_probe_load, fs_copy_quads, fs_copy_bytes\n"
        ".globl fs_access_failed\n"
        ".type fs_probe, @function\n"
        "fs_probe:\n"
        "fs_probe_load:\n"
        "  movzbl (%rdi), %eax\n"
        "  movl $1, %eax\n"
        "  ret\n"
        ".size fs_probe, . - fs_probe\n"
        ".type fs_copy, @function\n"
        "fs_copy:\n"  // 8 bytes at a time, then the rest (QEMU's TCG copies rep movsb bytewise)
        "  movq %rdx, %rcx\n"
        "  shrq $3, %rcx\n"
        "fs_copy_quads:\n"
        "  rep movsq\n"
        "  movq %rdx, %rcx\n"
        "  andq $7, %rcx\n"
        "fs_copy_bytes:\n"
        "  rep movsb\n"
        "  movl $1, %eax\n"
        "  ret\n"
        ".size fs_copy, . - fs_copy\n"
        "fs_access_failed:\n"
        "  xorl %eax, %eax\n"
        "  ret\n");

kern_return_t catch_exception_raise(mach_port_t port, mach_port_t thread, mach_port_t task,
                                    integer_t exception, integer_t code,
                                    rpc_long_integer_t subcode) {
  struct i386_thread_state st;
  mach_msg_type_number_t n = i386_THREAD_STATE_COUNT;
  kern_return_t kr = thread_get_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st, &n);
  bool ours = st.rip == (uintptr_t)fs_probe_load || st.rip == (uintptr_t)fs_copy_quads ||
              st.rip == (uintptr_t)fs_copy_bytes;
  if (kr == KERN_SUCCESS && exception == EXC_BAD_ACCESS && ours) {
    st.rip = (uintptr_t)fs_access_failed;
    kr = thread_set_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st,
                          i386_THREAD_STATE_COUNT);
  } else {
    printf("fsserver: exception %d, code %d, subcode 0x%lx at rip 0x%lx\n", exception, code,
           (unsigned long)subcode, (unsigned long)st.rip);
    stdout_flush();
    kr = KERN_FAILURE;  // a bug of ours: the kernel goes on to the task's exception port
  }
  if (kr == KERN_SUCCESS) {  // the rights are ours to release (else mach_msg_server's)
    mach_port_deallocate(mach_task_self(), thread);
    mach_port_deallocate(mach_task_self(), task);
  }
  return kr;
}

/* Maps the whole of f's memory object in our space with prot (and no more), and touches its
   pages from the first up to `touch` bytes, so that they are resident: the kernel copies a
   pager's object eagerly, and only its resident pages (docs/pager.md, "Copies of a pager
   object"), so out-of-line memory made from an untouched mapping would read as zero.
   Returns FS_IO_ERROR if a page cannot be had. */
static kern_return_t map_file(struct file *f, vm_prot_t prot, uint64_t touch,
                              vm_address_t *addr) {
  vm_size_t size = round_page(f->length);
  *addr = 0;
  kern_return_t kr = vm_map(mach_task_self(), addr, size, 0, TRUE, f->object, 0, FALSE, prot,
                            prot, VM_INHERIT_NONE);
  if (kr != KERN_SUCCESS)
    return KERN_RESOURCE_SHORTAGE;
  for (vm_size_t off = 0; off < round_page(touch); off += kPage)
    if (!fs_probe((const char *)*addr + off)) {
      vm_deallocate(mach_task_self(), *addr, size);
      *addr = 0;
      return FS_IO_ERROR;
    }
  return KERN_SUCCESS;
}

/* --- fs.defs --- */

kern_return_t do_fs_open(mach_port_t server, const_fs_name_t name, mach_port_t *object,
                         uint64_t *size, boolean_t *writable) {
  *object = MACH_PORT_NULL;
  *size = 0;
  *writable = FALSE;
  struct file *f;
  kern_return_t kr = look_up(name, &f);
  if (kr != KERN_SUCCESS)
    return kr;
  *object = f->object;  // the reply makes a send right from our receive right
  *size = f->length;
  *writable = f->writable;
  return KERN_SUCCESS;
}

kern_return_t do_fs_read_file(mach_port_t server, const_fs_name_t name, vm_offset_t *data,
                              mach_msg_type_number_t *data_count) {
  *data = 0;
  *data_count = 0;
  struct file *f;
  kern_return_t kr = look_up(name, &f);
  if (kr != KERN_SUCCESS)
    return kr;
  if (f->length > UINT32_MAX - kPage)
    return FS_TOO_LARGE;  // the count of out-of-line memory is 32 bits
  if (f->length == 0)
    return KERN_SUCCESS;
  vm_address_t a;
  kr = map_file(f, VM_PROT_READ, f->length, &a);
  if (kr != KERN_SUCCESS)
    return kr;
  // The reply moves the mapping out of our space (Dealloc in fs.defs).
  *data = a;
  *data_count = (mach_msg_type_number_t)f->length;
  return KERN_SUCCESS;
}

kern_return_t do_fs_write_file(mach_port_t server, const_fs_name_t name, vm_offset_t data,
                               mach_msg_type_number_t data_count) {
  struct file *f;
  kern_return_t kr = look_up(name, &f);
  if (kr != KERN_SUCCESS)
    return kr;
  if (!f->writable)
    return FS_READ_ONLY;
  if (data_count > f->length)
    return FS_NO_SPACE;
  if (data_count > 0) {
    vm_address_t a;
    kr = map_file(f, VM_PROT_READ | VM_PROT_WRITE, 0, &a);
    if (kr != KERN_SUCCESS)
      return kr;
    // Each page written faults in first (a data request), as it would for any writer.
    bool copied = fs_copy((void *)a, (const void *)data, data_count);
    vm_deallocate(mach_task_self(), a, round_page(f->length));
    if (!copied)
      return FS_IO_ERROR;  // what was copied before the failed page stays
  }
  // Success: the request's memory is ours to release (on an error, mach_msg_server's).
  vm_deallocate(mach_task_self(), data, data_count);
  return KERN_SUCCESS;
}

kern_return_t do_fs_stats(mach_port_t server, const_fs_name_t name, fs_stats_t *stats) {
  memset(stats, 0, sizeof *stats);
  struct file *f;
  kern_return_t kr = look_up(name, &f);
  if (kr != KERN_SUCCESS)
    return kr;
  const natural_t *from = (const natural_t *)&f->stats;
  natural_t *to = (natural_t *)stats;
  for (int i = 0; i < FS_STATS_COUNT; i++)
    to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
  return KERN_SUCCESS;
}

/* --- memory_object.defs: the kernel's side of each file ---
   Every message carries a send right to the object's control port (memory_control), which
   the routines answer on and then release; the server keeps none between messages, and
   answers whichever control port a request names (after memory_object_terminate a new
   vm_map makes a new one). Each routine returns KERN_SUCCESS once it has taken what the
   message holds: on an error mach_msg_server releases it. */

kern_return_t memory_object_init(mach_port_t object, mach_port_t control, mach_port_t name,
                                 vm_size_t page_size) {
  struct file *f = file_of_object(object);
  if (!f)
    return KERN_FAILURE;
  count(&f->stats.inits, 1);
  // may_cache: the file's data changes only through this object. Copies are the kernel's.
  memory_object_ready(control, TRUE, MEMORY_OBJECT_COPY_DELAY);
  mach_port_deallocate(mach_task_self(), control);
  mach_port_deallocate(mach_task_self(), name);
  return KERN_SUCCESS;
}

kern_return_t memory_object_terminate(mach_port_t object, mach_port_t control,
                                      mach_port_t name) {
  struct file *f = file_of_object(object);
  if (!f)
    return KERN_FAILURE;
  count(&f->stats.terminates, 1);
  // The kernel hands over both receive rights: the object is gone from its cache.
  mach_port_destroy(mach_task_self(), control);
  mach_port_destroy(mach_task_self(), name);
  return KERN_SUCCESS;
}

/* Answers a request for [offset, offset + length) of f: the file's pages from the disk, the
   bytes past its end zeroed, and data_error for pages wholly past its end. Counters move
   before the answers go: the faulting client may ask for them as soon as the kernel has the
   data. */
static void supply(struct file *f, mach_port_t control, vm_offset_t offset, vm_size_t length) {
  vm_size_t file_end = round_page(f->length);
  vm_size_t in_file = 0;
  if (offset < file_end)
    in_file = length < file_end - offset ? length : file_end - offset;
  count(&f->stats.pages_past_end, (length - in_file) / kPage);
  for (vm_size_t done = 0; done < in_file;) {
    vm_size_t chunk = in_file - done < kReadChunk ? in_file - done : kReadChunk;
    vm_offset_t at = offset + done;
    done += chunk;
    io_buf_ptr_t data = 0;
    mach_msg_type_number_t got = 0;
    recnum_t rec = (recnum_t)((f->first_block * kBlock + at) / kRecord);
    if (device_read(disk, 0, rec, (int)chunk, &data, &got) != D_SUCCESS || got > chunk)
      got = 0;
    // A transfer that runs off the end of the disk comes back trimmed: the whole pages it
    // brought are supplied, and the rest fails.
    vm_size_t good = got / kPage * kPage;
    if (got > good)
      vm_deallocate(mach_task_self(), (vm_address_t)data + good, round_page(got) - good);
    count(&f->stats.pages_supplied, good / kPage);
    if (good < chunk)
      count(&f->stats.read_errors, 1);
    if (good > 0) {
      if (at + good > f->length)  // the last page: zero past the end of the file
        memset((char *)data + (f->length - at), 0, at + good - f->length);
      // The data moves to the kernel with the message (dealloc): no copy is left here.
      memory_object_data_supply(control, at, (vm_offset_t)data, good, TRUE, VM_PROT_NONE,
                                FALSE, MACH_PORT_NULL);
    }
    if (good < chunk)
      memory_object_data_error(control, at + good, chunk - good, KERN_MEMORY_ERROR);
  }
  if (in_file < length)
    memory_object_data_error(control, offset + in_file, length - in_file,
                             KERN_INVALID_ADDRESS);
}

kern_return_t memory_object_data_request(mach_port_t object, mach_port_t control,
                                         vm_offset_t offset, vm_size_t length,
                                         vm_prot_t desired_access) {
  struct file *f = file_of_object(object);
  if (!f)
    return KERN_FAILURE;
  count(&f->stats.data_requests, 1);
  count(&f->stats.pages_requested, length / kPage);
  if (length == 0 || offset % kPage || length % kPage)
    memory_object_data_error(control, offset, length, KERN_INVALID_ARGUMENT);  // not the kernel
  else
    supply(f, control, offset, length);
  mach_port_deallocate(mach_task_self(), control);
  return KERN_SUCCESS;
}

/* Writes the returned page(s) at offset back to f's blocks, up to the end of the file (the
   bytes past it, in the last record, written as zero). */
static void write_back(struct file *f, vm_offset_t offset, char *data, vm_size_t size) {
  if (offset % kPage || size % kPage) {
    count(&f->stats.write_errors, 1);  // not the kernel: it returns whole pages
    return;
  }
  if (offset >= f->length)
    return;  // wholly past the end: nothing on the disk
  vm_size_t n = f->length - offset < size ? f->length - offset : size;
  vm_size_t bytes = (n + kRecord - 1) & ~(vm_size_t)(kRecord - 1);
  memset(data + n, 0, bytes - n);
  int written = 0;
  recnum_t rec = (recnum_t)((f->first_block * kBlock + offset) / kRecord);
  kern_return_t kr = device_write(disk, 0, rec, (io_buf_ptr_t)data, bytes, &written);
  if (kr != D_SUCCESS || (vm_size_t)written != bytes)
    count(&f->stats.write_errors, 1);
  else
    count(&f->stats.pages_written, round_page(n) / kPage);
}

kern_return_t memory_object_data_return(mach_port_t object, mach_port_t control,
                                        vm_offset_t offset, vm_offset_t data,
                                        mach_msg_type_number_t size, boolean_t dirty,
                                        boolean_t kernel_copy) {
  struct file *f = file_of_object(object);
  if (!f)
    return KERN_FAILURE;
  count(&f->stats.data_returns, 1);
  if (!f->writable)
    count(&f->stats.returns_ignored, 1);  // read-only: the disk keeps what it has
  else if (dirty)
    write_back(f, offset, (char *)data, size);
  vm_deallocate(mach_task_self(), data, size);
  mach_port_deallocate(mach_task_self(), control);
  return KERN_SUCCESS;
}

kern_return_t memory_object_data_unlock(mach_port_t object, mach_port_t control,
                                        vm_offset_t offset, vm_size_t length,
                                        vm_prot_t desired_access) {
  struct file *f = file_of_object(object);
  if (!f)
    return KERN_FAILURE;
  // No page is supplied locked, so the kernel has no reason to ask; grant it all the same.
  count(&f->stats.data_unlocks, 1);
  memory_object_lock_request(control, offset, length, MEMORY_OBJECT_RETURN_NONE, FALSE,
                             VM_PROT_NONE, MACH_PORT_NULL);
  mach_port_deallocate(mach_task_self(), control);
  return KERN_SUCCESS;
}

/* Answers to calls the server never makes, and memory_object_copy, which the kernel does not
   send: refused, so that mach_msg_server releases what they carry. */
kern_return_t memory_object_lock_completed(mach_port_t object, mach_msg_type_name_t type,
                                           mach_port_t control, vm_offset_t offset,
                                           vm_size_t length) {
  return KERN_FAILURE;
}
kern_return_t memory_object_supply_completed(mach_port_t object, mach_msg_type_name_t type,
                                             mach_port_t control, vm_offset_t offset,
                                             vm_size_t length, kern_return_t result,
                                             vm_offset_t error_offset) {
  return KERN_FAILURE;
}
kern_return_t memory_object_change_completed(mach_port_t object, mach_msg_type_name_t type,
                                             boolean_t may_cache,
                                             memory_object_copy_strategy_t strategy) {
  return KERN_FAILURE;
}
kern_return_t memory_object_copy(mach_port_t object, mach_port_t control, vm_offset_t offset,
                                 vm_size_t length, mach_port_t new_object) {
  return KERN_FAILURE;
}

/* --- Start-up --- */

static void *serve_objects(void *arg) {
  for (;;) {
    mach_msg_return_t mr = mach_msg_server(memory_object_server, 0, pager_set);
    printf("fsserver: pager loop: 0x%x\n", mr);
    stdout_flush();
  }
  return NULL;
}

static void *serve_exceptions(void *arg) {
  for (;;) {
    mach_msg_return_t mr = mach_msg_server(exc_server, 0, exception_port);
    printf("fsserver: exception loop: 0x%x\n", mr);
    stdout_flush();
  }
  return NULL;
}

/* Reads and checks block 0 and fills files[]. The disk holds `records` records. */
static bool read_table(uint64_t records) {
  io_buf_ptr_t data = 0;
  mach_msg_type_number_t got = 0;
  kern_return_t kr = device_read(disk, 0, 0, kBlock, &data, &got);
  if (kr != D_SUCCESS || got != kBlock) {
    printf("fsserver: cannot read block 0: 0x%x\n", kr);
    return false;
  }
  const struct disk_super *s = (const struct disk_super *)data;
  const struct disk_entry *e = (const struct disk_entry *)(data + sizeof *s);
  bool ok = false;
  if (memcmp(s->magic, "MICAFS01", 8) != 0 || s->version != kVersion ||
      s->block_size != kBlock || s->files > kMaxFiles || s->blocks == 0) {
    printf("fsserver: vd0 holds no file system (docs/fs.md)\n");
  } else {
    // A disk shorter than its file system (a damaged one) is still served: reads past its
    // end fail, and the pages they were for with them.
    if ((uint64_t)s->blocks * (kBlock / kRecord) > records)
      printf("fsserver: vd0 ends %lu blocks before its file system: reads past it fail\n",
             (unsigned long)(s->blocks - records / (kBlock / kRecord)));
    ok = true;
    for (uint32_t i = 0; ok && i < s->files; i++) {
      size_t len = strnlen(e[i].name, kNameField);
      uint64_t blocks = (e[i].length + kBlock - 1) / kBlock;
      ok = len > 0 && len < kNameField && e[i].first_block >= 1 &&
           e[i].first_block <= s->blocks && blocks <= s->blocks - e[i].first_block;
      for (uint32_t j = 0; ok && j < i; j++)
        ok = strcmp(files[j].name, e[i].name) != 0;
      if (!ok) {
        printf("fsserver: bad file table entry %u\n", i);
        break;
      }
      struct file *f = &files[i];
      memcpy(f->name, e[i].name, len + 1);
      f->first_block = e[i].first_block;
      f->length = e[i].length;
      f->writable = (e[i].flags & kWritable) != 0;
      nfiles = (int)i + 1;
    }
  }
  vm_deallocate(mach_task_self(), (vm_address_t)data, got);
  return ok;
}

static bool open_disk(mach_port_t master, bool *read_only) {
  *read_only = false;
  kern_return_t kr = device_open(master, D_READ | D_WRITE, "vd0", &disk);
  if (kr == D_READ_ONLY) {
    *read_only = true;
    kr = device_open(master, D_READ, "vd0", &disk);
  }
  if (kr != D_SUCCESS) {
    printf("fsserver: cannot open vd0: %d\n", kr);
    return false;
  }
  return true;
}

static kern_return_t make_ports(void) {
  task_t self = mach_task_self();
  kern_return_t kr = mach_port_allocate(self, MACH_PORT_RIGHT_PORT_SET, &pager_set);
  for (int i = 0; kr == KERN_SUCCESS && i < nfiles; i++) {
    kr = mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &files[i].object);
    if (kr == KERN_SUCCESS)
      kr = mach_port_insert_right(self, files[i].object, files[i].object, MACH_MSG_TYPE_MAKE_SEND);
    if (kr == KERN_SUCCESS)
      kr = mach_port_move_member(self, files[i].object, pager_set);
  }
  if (kr == KERN_SUCCESS)
    kr = mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &exception_port);
  if (kr == KERN_SUCCESS)
    kr = mach_port_insert_right(self, exception_port, exception_port, MACH_MSG_TYPE_MAKE_SEND);
  if (kr == KERN_SUCCESS) {
    thread_t me = mach_thread_self();
    kr = thread_set_special_port(me, THREAD_EXCEPTION_PORT, exception_port);
    mach_port_deallocate(self, me);
  }
  return kr;
}

int main(int argc, char **argv) {
  mach_port_t master = argc > 2 ? (mach_port_t)strtoul(argv[2], NULL, 10) : MACH_PORT_NULL;
  if (!MACH_PORT_VALID(master)) {
    printf("fsserver: no device master port: boot me with ${host-port} ${device-port}\n");
    return 1;
  }
  bool read_only;
  if (!open_disk(master, &read_only))
    return 1;
  int status[DEV_STATUS_MAX];
  mach_msg_type_number_t n = DEV_STATUS_MAX;
  kern_return_t kr = device_get_status(disk, DEV_GET_RECORDS, status, &n);
  if (kr != D_SUCCESS || n < DEV_GET_RECORDS_COUNT ||
      status[DEV_GET_RECORDS_RECORD_SIZE] != kRecord) {
    printf("fsserver: vd0 does not have %d-byte records\n", kRecord);
    return 1;
  }
  if (!read_table((unsigned)status[DEV_GET_RECORDS_DEVICE_RECORDS]))
    return 1;
  if (read_only)
    for (int i = 0; i < nfiles; i++)
      files[i].writable = false;
  kr = make_ports();
  if (kr != KERN_SUCCESS) {
    printf("fsserver: cannot set up its ports: 0x%x\n", kr);
    return 1;
  }
  if (!cthread_fork(serve_objects, NULL) || !cthread_fork(serve_exceptions, NULL)) {
    printf("fsserver: cannot start its threads\n");
    return 1;
  }
  mach_port_t bootstrap = MACH_PORT_NULL;
  kr = task_get_special_port(mach_task_self(), TASK_BOOTSTRAP_PORT, &bootstrap);
  if (kr == KERN_SUCCESS)
    kr = bootstrap_check_in(bootstrap, FS_SERVICE_NAME, &service_port);
  if (kr != KERN_SUCCESS) {
    printf("fsserver: cannot check in as \"%s\": 0x%x\n", FS_SERVICE_NAME, kr);
    return 1;
  }
  printf("fsserver: %d files on vd0%s, serving \"%s\" on port %u\n", nfiles,
         read_only ? " (read-only)" : "", FS_SERVICE_NAME, (unsigned)service_port);
  stdout_flush();
  for (;;) {
    mach_msg_return_t mr = mach_msg_server(fs_server, 0, service_port);
    printf("fsserver: mach_msg_server: 0x%x\n", mr);
    stdout_flush();
  }
}
