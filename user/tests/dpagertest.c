/* The default pager (user/servers/default_pager.c, docs/default_pager.md) tested on its own:
   this task plays the kernel's part. It finds the pager's port with
   vm_set_default_memory_manager, makes objects with memory_object_create (a receive right it
   moves to the pager, a control port it keeps receiving on), stores pages with
   memory_object_data_return / data_initialize, asks for them with data_request, and decodes
   the answers that come to the control port as the kernel would get them: mach.defs's
   memory_object_data_supply and memory_object_data_unavailable requests, received raw.

   Booted after the default_pager module, both with ${host-port} ${device-port}, with a fresh
   disk vd0 (tests/system/CMakeLists.txt). The test also reads the disk itself, to see that
   the pages are there, each in one block. Mica only. */
#include <device/device.h>
#include <mach.h>
#include <mach/memory_object.h>
#include <memory_object.user.h>
#include <memory_object_default.user.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <test/mach_util.h>

enum {
  kPage = 4096,
  kWaitMs = 5000,        /* the longest wait for one answer of the pager */
  kMaxCheck = 256,       /* pages one check asks for at most */
  kBatch = 64,           /* pages per data_return when filling the swap */
  kIdSupply = 2093,      /* mach.defs: memory_object_data_supply */
  kIdUnavailable = 2039, /* memory_object_data_unavailable */
  kIdError = 2090,       /* memory_object_data_error */
  kIdReady = 2094,       /* memory_object_ready */
};

static const uint64_t kMagic = 0x5453454741504444ull;  /* "DDPAGEST" */

static mach_port_t host_priv, device_master;
static mach_port_t dp; /* a send right to the default pager's port */

/* --- The pages: every word says whose page it is. --- */

/* Fills one page of object `tag` with generation `gen` of its data. */
static void fill(void *buf, uint32_t tag, uint32_t page, uint32_t gen) {
  uint64_t *w = buf;
  w[0] = kMagic;
  w[1] = tag;
  w[2] = page;
  w[3] = gen;
  uint64_t x = (uint64_t)tag << 40 ^ (uint64_t)page << 16 ^ gen;
  for (int i = 4; i < kPage / 8; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    w[i] = x;
  }
}

#define BAD_DATA 0xffffffffu

/* The generation a supplied page holds, or BAD_DATA if it is not page `page` of `tag`. */
static uint32_t generation_of(const void *data, uint32_t tag, uint32_t page) {
  static uint64_t expect[kPage / 8];  /* main thread only: parallel clients pass no data */
  const uint64_t *w = data;
  if (w[0] != kMagic || w[1] != tag || w[2] != page)
    return BAD_DATA;
  fill(expect, tag, page, (uint32_t)w[3]);
  return memcmp(expect, data, kPage) == 0 ? (uint32_t)w[3] : BAD_DATA;
}

/* --- Objects, as the kernel makes them. --- */

struct obj {
  mach_port_t port;     /* a send right: the pager holds the receive right */
  mach_port_t control;  /* receive right (and a send right, to see its end) */
  mach_port_t name;     /* receive right (and a send right) */
  uint32_t tag;
};

static uint32_t next_tag = 1;

static void add_send_ref(mach_port_t name) {
  kern_return_t kr = mach_port_mod_refs(mach_task_self(), name, MACH_PORT_RIGHT_SEND, 1);
  if (kr != KERN_SUCCESS)
    test_fail(__FILE__, __LINE__, "mach_port_mod_refs(+1 send): 0x%x", kr);
}

/* memory_object_create on the default pager's port, as the kernel sends it. */
static bool obj_create(struct obj *o) {
  memset(o, 0, sizeof *o);
  o->tag = __atomic_fetch_add(&next_tag, 1, __ATOMIC_RELAXED);
  o->port = receive_and_send();
  o->control = receive_and_send();
  o->name = receive_and_send();
  if (!o->port || !o->control || !o->name || !dp)
    return false;
  mach_port_set_qlimit(mach_task_self(), o->control, MACH_PORT_QLIMIT_MAX);
  add_send_ref(dp);  /* memory_object_create moves one */
  kern_return_t kr = memory_object_create(dp, o->port, 1024 * kPage, o->control, o->name, kPage);
  if (kr != KERN_SUCCESS)
    test_fail(__FILE__, __LINE__, "memory_object_create: 0x%x", kr);
  return kr == KERN_SUCCESS;
}

/* Waits until name is a dead name (the pager destroyed the right it stood for). */
static bool wait_dead(mach_port_t name, int ms) {
  for (int t = 0; t <= ms; t += 10) {
    mach_port_type_t type = ptype(name);
    if (type & MACH_PORT_TYPE_DEAD_NAME)
      return true;
    msleep(10);
  }
  return false;
}

/* memory_object_terminate, moving the control and name receive rights; true once the pager
   has destroyed them (it does so last, after freeing the object's blocks). */
static bool obj_terminate(struct obj *o) {
  add_send_ref(o->port);  /* terminate moves one; ours shows the port's end */
  kern_return_t kr = memory_object_terminate(o->port, o->control, o->name);
  if (kr != KERN_SUCCESS) {
    test_fail(__FILE__, __LINE__, "memory_object_terminate: 0x%x", kr);
    return false;
  }
  bool done = wait_dead(o->control, kWaitMs) && wait_dead(o->name, kWaitMs) &&
              wait_dead(o->port, kWaitMs);
  destroy(o->control);
  destroy(o->name);
  destroy(o->port);
  return done;
}

/* memory_object_data_return of pages [page, page + n), generation gen. */
static kern_return_t put(const struct obj *o, uint32_t page, uint32_t n, uint32_t gen) {
  vm_address_t buf = alloc((vm_size_t)n * kPage);
  if (!buf)
    return KERN_RESOURCE_SHORTAGE;
  for (uint32_t k = 0; k < n; k++)
    fill((void *)(buf + k * kPage), o->tag, page + k, gen);
  kern_return_t kr = memory_object_data_return(o->port, o->control, (vm_offset_t)page * kPage,
                                               buf, n * kPage, TRUE, FALSE);
  vm_deallocate(mach_task_self(), buf, (vm_size_t)n * kPage);
  return kr;
}

/* memory_object_data_initialize of one page. */
static kern_return_t put_initial(const struct obj *o, uint32_t page, uint32_t gen) {
  static char buf[kPage] __attribute__((aligned(kPage)));
  fill(buf, o->tag, page, gen);
  return memory_object_data_initialize(o->port, o->control, (vm_offset_t)page * kPage,
                                       (vm_offset_t)buf, kPage);
}

/* --- The answers on a control port, decoded as the kernel's MIG server would. --- */

/* mach.defs's memory_object_data_supply request, as GNU MIG lays it out for x86-64. */
struct supply_msg {
  mach_msg_header_t Head;
  mach_msg_type_t offsetType;
  vm_offset_t offset;
  mach_msg_type_long_t dataType;
  vm_offset_t data;
  mach_msg_type_t lock_valueType;
  vm_prot_t lock_value;
  char lock_valuePad[4];
  mach_msg_type_t preciousType;
  boolean_t precious;
  char preciousPad[4];
  mach_msg_type_t reply_toType;
  mach_port_name_inlined_t reply_to;
};
_Static_assert(sizeof(struct supply_msg) == 112, "as mach.user.c's Request");

/* memory_object_data_unavailable's request; data_error's starts the same way. */
struct range_msg {
  mach_msg_header_t Head;
  mach_msg_type_t offsetType;
  vm_offset_t offset;
  mach_msg_type_t sizeType;
  vm_size_t size;
};
_Static_assert(sizeof(struct range_msg) == 64, "as mach.user.c's Request");

union answer_msg {
  mach_msg_header_t head;
  struct supply_msg supply;
  struct range_msg range;
  char bytes[1024];
};

enum kind { kNone, kUnavailable, kSupplied, kError };

struct answer {
  enum kind kind;
  uint32_t gen; /* kSupplied: the data's generation, or BAD_DATA */
};

static bool int_type_ok(const mach_msg_type_t *t, int name, int bits) {
  return t->msgt_name == name && t->msgt_size == bits && t->msgt_number == 1 &&
         t->msgt_inline && !t->msgt_longform;
}

/* Receives one answer on o's control port and records the pages it covers in ans (pages
   [first, first + n)). Returns the number of faults found in it (malformed, outside the
   range, answered twice), or -1 if nothing came within ms. */
static int receive_answer(const struct obj *o, uint32_t first, uint32_t n, struct answer *ans,
                          int ms) {
  union answer_msg m;
  memset(&m.head, 0, sizeof m.head);
  mach_msg_return_t mr = mach_msg(&m.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m,
                                  o->control, ms, MACH_PORT_NULL);
  if (mr != MACH_MSG_SUCCESS)
    return -1;
  int faults = 0;
  vm_offset_t offset = 0, data = 0;
  vm_size_t size = 0;
  enum kind kind = kNone;
  switch (m.head.msgh_id) {
    case kIdSupply: {
      struct supply_msg *s = &m.supply;
      bool ok = m.head.msgh_size == sizeof *s && (m.head.msgh_bits & MACH_MSGH_BITS_COMPLEX) &&
                int_type_ok(&s->offsetType, MACH_MSG_TYPE_INTEGER_64, 64) &&
                !s->dataType.msgtl_header.msgt_inline &&
                s->dataType.msgtl_header.msgt_longform &&
                s->dataType.msgtl_name == MACH_MSG_TYPE_BYTE && s->dataType.msgtl_size == 8 &&
                int_type_ok(&s->lock_valueType, MACH_MSG_TYPE_INTEGER_32, 32) &&
                s->lock_value == VM_PROT_NONE && !s->precious &&
                s->reply_to.name == MACH_PORT_NULL;
      offset = s->offset;
      data = s->data;
      size = s->dataType.msgtl_number;
      if (!ok || size == 0 || size % kPage || offset % kPage) {
        printf("dpagertest: malformed data_supply (offset 0x%lx, %lu bytes)\n",
               (unsigned long)offset, (unsigned long)size);
        faults++;
      }
      kind = kSupplied;
      break;
    }
    case kIdUnavailable:
    case kIdError: {
      struct range_msg *r = &m.range;
      offset = r->offset;
      size = r->size;
      kind = m.head.msgh_id == kIdUnavailable ? kUnavailable : kError;
      if (!int_type_ok(&r->offsetType, MACH_MSG_TYPE_INTEGER_64, 64) ||
          !int_type_ok(&r->sizeType, MACH_MSG_TYPE_INTEGER_64, 64) || size % kPage ||
          offset % kPage) {
        printf("dpagertest: malformed answer %d\n", m.head.msgh_id);
        faults++;
      }
      break;
    }
    default:
      printf("dpagertest: unexpected message %d on a control port\n", m.head.msgh_id);
      mach_msg_destroy(&m.head);
      return 1;
  }
  for (vm_size_t at = 0; at + kPage <= size; at += kPage) {
    uint64_t page = (offset + at) / kPage;
    if (page < first || page >= (uint64_t)first + n) {
      printf("dpagertest: answer %d for page %lu, outside [%u, %u)\n", m.head.msgh_id,
             (unsigned long)page, first, first + n);
      faults++;
      continue;
    }
    struct answer *a = &ans[page - first];
    if (a->kind != kNone) {
      printf("dpagertest: page %lu answered twice\n", (unsigned long)page);
      faults++;
    }
    a->kind = kind;
    a->gen = kind == kSupplied ? generation_of((void *)(data + at), o->tag, (uint32_t)page) : 0;
  }
  if (data && size)
    vm_deallocate(mach_task_self(), data, size);
  return faults;
}

/* Collects answers until every page of [first, first + n) has one. Returns the faults
   found, counting each page left without an answer. */
static int collect(const struct obj *o, uint32_t first, uint32_t n, struct answer *ans) {
  int faults = 0;
  for (;;) {
    uint32_t missing = 0;
    for (uint32_t k = 0; k < n; k++)
      missing += ans[k].kind == kNone;
    if (missing == 0)
      return faults;
    int f = receive_answer(o, first, n, ans, kWaitMs);
    if (f < 0) {
      printf("dpagertest: object %u: %u page(s) of [%u, %u) never answered\n", o->tag,
             missing, first, first + n);
      return faults + (int)missing;
    }
    faults += f;
  }
}

/* Asks for pages [first, first + n) and checks them: want[k] is the generation page
   first + k must come back with, 0 for a page never written (data_unavailable). Returns
   the number of pages that came back otherwise, each one printed. */
static int check_pages(const struct obj *o, uint32_t first, uint32_t n, const uint32_t *want) {
  struct answer ans[kMaxCheck];
  if (n > kMaxCheck)
    return (int)n;
  memset(ans, 0, n * sizeof ans[0]);
  kern_return_t kr = memory_object_data_request(o->port, o->control, (vm_offset_t)first * kPage,
                                                (vm_size_t)n * kPage, VM_PROT_READ);
  if (kr != KERN_SUCCESS) {
    printf("dpagertest: memory_object_data_request: 0x%x\n", kr);
    return (int)n;
  }
  int bad = collect(o, first, n, ans);
  for (uint32_t k = 0; k < n; k++) {
    bool ok = want[k] ? ans[k].kind == kSupplied && ans[k].gen == want[k]
                      : ans[k].kind == kUnavailable;
    if (!ok && ans[k].kind != kNone) {
      printf("dpagertest: object %u page %u: answer %d generation 0x%x, wanted %s %u\n",
             o->tag, first + k, ans[k].kind, ans[k].gen, want[k] ? "generation" : "none",
             want[k]);
      bad++;
    }
  }
  return bad;
}

/* check_pages with one generation for the whole range. */
static int check_range(const struct obj *o, uint32_t first, uint32_t n, uint32_t gen) {
  uint32_t want[kMaxCheck];
  if (n > kMaxCheck)
    return (int)n;
  for (uint32_t k = 0; k < n; k++)
    want[k] = gen;
  return check_pages(o, first, n, want);
}

/* True if no message comes to o's control port within ms. */
static bool control_quiet(const struct obj *o, int ms) {
  struct answer ans[1];
  memset(ans, 0, sizeof ans);
  return receive_answer(o, 0, 1, ans, ms) < 0;
}

/* --- The disk, read behind the pager's back. --- */

/* How many blocks of vd0 hold page `page` of object `tag`; *gen: the generation of the last
   one found. -1 if the disk cannot be read. */
static int disk_copies(uint32_t tag, uint32_t page, uint32_t *gen) {
  mach_port_t dev = MACH_PORT_NULL;
  if (device_open(device_master, D_READ, "vd0", &dev) != D_SUCCESS)
    return -1;
  int status[DEV_GET_SIZE_COUNT];
  mach_msg_type_number_t count = DEV_GET_SIZE_COUNT;
  int copies = -1;
  io_buf_ptr_t data = 0;
  mach_msg_type_number_t got = 0;
  if (device_get_status(dev, DEV_GET_SIZE, status, &count) == D_SUCCESS &&
      device_read(dev, 0, 0, status[DEV_GET_SIZE_DEVICE_SIZE], &data, &got) == D_SUCCESS) {
    copies = 0;
    for (mach_msg_type_number_t at = 0; at + kPage <= got; at += kPage) {
      const uint64_t *w = (const uint64_t *)(data + at);
      if (w[0] == kMagic && w[1] == tag && w[2] == page) {
        copies++;
        *gen = (uint32_t)w[3];
      }
    }
    vm_deallocate(mach_task_self(), (vm_address_t)data, got);
  }
  device_close(dev);
  return copies;
}

/* The pages the swap holds: the disk's blocks but the header. */
static uint32_t swap_capacity(void) {
  mach_port_t dev = MACH_PORT_NULL;
  if (device_open(device_master, D_READ, "vd0", &dev) != D_SUCCESS)
    return 0;
  int status[DEV_GET_SIZE_COUNT];
  mach_msg_type_number_t count = DEV_GET_SIZE_COUNT;
  uint32_t blocks = 0;
  if (device_get_status(dev, DEV_GET_SIZE, status, &count) == D_SUCCESS)
    blocks = (uint32_t)status[DEV_GET_SIZE_DEVICE_SIZE] / kPage;
  device_close(dev);
  return blocks ? blocks - 1 : 0;
}

/* --- The tests. --- */

TEST(default_pager_registered) {
  ASSERT(host_priv != MACH_PORT_NULL);
  /* The pager registers once its start-up is done: ask until it has, for a while. */
  for (int t = 0; t < 20000 && !MACH_PORT_VALID(dp); t += 20) {
    mach_port_t m = MACH_PORT_NULL;
    KR_OK(vm_set_default_memory_manager(host_priv, &m));
    if (MACH_PORT_VALID(m))
      dp = m;
    else
      msleep(20);
  }
  ASSERT(MACH_PORT_VALID(dp));
  EXPECT_EQ(ptype(dp), MACH_PORT_TYPE_SEND); /* a copy of the kernel's right, not ours */
}

TEST(pages_never_written_are_unavailable) {
  struct obj o;
  ASSERT(obj_create(&o));
  EXPECT_EQ(check_range(&o, 0, 1, 0), 0);
  EXPECT_EQ(check_range(&o, 3, 8, 0), 0);
  EXPECT_EQ(check_range(&o, 1u << 20, 2, 0), 0); /* far beyond the object's size */
  EXPECT(obj_terminate(&o));
}

TEST(returned_pages_come_back) {
  struct obj o;
  ASSERT(obj_create(&o));
  KR_OK(put(&o, 0, 8, 1)); /* eight pages in one message */
  static const uint32_t singles[] = {20, 13, 17, 9};
  for (int i = 0; i < 4; i++)
    KR_OK(put(&o, singles[i], 1, 1)); /* out of order, one at a time */
  EXPECT_EQ(check_range(&o, 0, 8, 1), 0);
  EXPECT_EQ(check_range(&o, 9, 1, 1), 0);
  EXPECT_EQ(check_range(&o, 5, 2, 1), 0);
  /* Written and unwritten pages in one request: supplies and data_unavailable mixed. */
  uint32_t want[14] = {0};
  for (int i = 0; i < 4; i++)
    want[singles[i] - 8] = 1;
  EXPECT_EQ(check_pages(&o, 8, 14, want), 0);
  EXPECT_EQ(check_range(&o, 21, 3, 0), 0);
  EXPECT(obj_terminate(&o));
}

TEST(rewritten_page_keeps_its_block) {
  struct obj o;
  ASSERT(obj_create(&o));
  for (uint32_t gen = 1; gen <= 3; gen++)
    KR_OK(put(&o, 5, 1, gen));
  EXPECT_EQ(check_range(&o, 5, 1, 3), 0);
  KR_OK(put(&o, 4, 3, 4)); /* rewrites page 5 again, with pages 4 and 6 new */
  EXPECT_EQ(check_range(&o, 4, 3, 4), 0);
  /* On the disk: one block per page, holding the last generation. */
  for (uint32_t page = 4; page <= 6; page++) {
    uint32_t gen = 0;
    EXPECT_EQ(disk_copies(o.tag, page, &gen), 1);
    EXPECT_EQ(gen, 4);
  }
  EXPECT(obj_terminate(&o));
}

TEST(objects_are_kept_apart) {
  struct obj o[3];
  for (int i = 0; i < 3; i++)
    ASSERT(obj_create(&o[i]));
  /* The same pages of three objects, interleaved: forward, backward, evens then odds. */
  for (uint32_t k = 0; k < 16; k++) {
    KR_OK(put(&o[0], k, 1, 10 + k));
    KR_OK(put(&o[1], 15 - k, 1, 20 + (15 - k)));
    uint32_t p = k < 8 ? 2 * k : 2 * (k - 8) + 1;
    KR_OK(put(&o[2], p, 1, 30 + p));
  }
  for (int i = 0; i < 3; i++) {
    uint32_t want[16];
    for (uint32_t k = 0; k < 16; k++)
      want[k] = 10 * (uint32_t)(i + 1) + k;
    EXPECT_EQ(check_pages(&o[i], 0, 16, want), 0);
  }
  for (int i = 0; i < 3; i++)
    EXPECT(obj_terminate(&o[i]));
}

TEST(data_initialize_keeps_written_data) {
  struct obj o;
  ASSERT(obj_create(&o));
  KR_OK(put(&o, 2, 1, 7));
  KR_OK(put_initial(&o, 2, 8)); /* page 2 has data: discarded */
  KR_OK(put_initial(&o, 3, 9)); /* page 3 has none: kept */
  const uint32_t want[] = {7, 9};
  EXPECT_EQ(check_pages(&o, 2, 2, want), 0);
  KR_OK(put(&o, 3, 1, 10)); /* data_return overwrites */
  EXPECT_EQ(check_range(&o, 3, 1, 10), 0);
  EXPECT(obj_terminate(&o));
}

TEST(messages_of_an_object_keep_their_order) {
  struct obj o;
  ASSERT(obj_create(&o));
  /* Forty returns of one page, sent without waiting: several pager threads take them, and
     the last one must still be what stays. */
  for (uint32_t gen = 1; gen <= 40; gen++)
    KR_OK(put(&o, 3, 1, gen));
  EXPECT_EQ(check_range(&o, 3, 1, 40), 0);
  /* Returns and requests interleaved, no answer awaited: each request sees the return just
     before it, whatever order the answers come in. */
  enum { kPairs = 8 };
  for (uint32_t i = 0; i < kPairs; i++) {
    KR_OK(put(&o, 3, 1, 41 + i));
    KR_OK(memory_object_data_request(o.port, o.control, 3 * kPage, kPage, VM_PROT_READ));
  }
  int seen[kPairs] = {0}, faults = 0;
  for (int i = 0; i < kPairs; i++) {
    struct answer a = {kNone, 0};
    int f = receive_answer(&o, 3, 1, &a, kWaitMs);
    ASSERT(f >= 0);
    faults += f;
    if (a.kind == kSupplied && a.gen >= 41 && a.gen < 41 + kPairs)
      seen[a.gen - 41]++;
    else
      faults++;
  }
  EXPECT_EQ(faults, 0);
  for (int i = 0; i < kPairs; i++)
    EXPECT_EQ(seen[i], 1);
  EXPECT(obj_terminate(&o));
}

/* Messages the pager must refuse without harm, then serve on as before. */
TEST(hostile_messages_leave_the_pager_serving) {
  task_t self = mach_task_self();
  struct obj o;
  ASSERT(obj_create(&o));

  /* Data that is not whole pages, or out of any range: nothing is stored. */
  vm_address_t buf = alloc(2 * kPage);
  ASSERT(buf != 0);
  fill((void *)buf, o.tag, 0, 1);
  KR_OK(memory_object_data_return(o.port, o.control, 0, buf, 100, TRUE, FALSE));
  KR_OK(memory_object_data_return(o.port, o.control, 100, buf, kPage, TRUE, FALSE));
  KR_OK(memory_object_data_return(o.port, o.control, 1ull << 60, buf, kPage, TRUE, FALSE));
  KR_OK(memory_object_data_return(o.port, o.control, 0, buf, kPage + 8, TRUE, FALSE));
  KR_OK(memory_object_data_initialize(o.port, o.control, 0, buf, 10));
  vm_deallocate(self, buf, 2 * kPage);
  /* Requests that are not whole pages, empty, too long or out of range: no answer. */
  KR_OK(memory_object_data_request(o.port, o.control, 0, 100, VM_PROT_READ));
  KR_OK(memory_object_data_request(o.port, o.control, 0, 0, VM_PROT_READ));
  KR_OK(memory_object_data_request(o.port, o.control, 100, kPage, VM_PROT_READ));
  KR_OK(memory_object_data_request(o.port, o.control, 0, 1ull << 30, VM_PROT_READ));
  KR_OK(memory_object_data_request(o.port, o.control, 1ull << 60, kPage, VM_PROT_READ));
  EXPECT_EQ(check_range(&o, 0, 1, 0), 0); /* the only answer */
  EXPECT(control_quiet(&o, 200));

  /* A header alone with a routine's id, an unknown id carrying a send right, and a message
     larger than the pager's receive buffer: each destroyed, with what it carries. */
  mach_msg_header_t h = {.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                         .msgh_size = sizeof h, .msgh_remote_port = o.port,
                         .msgh_id = 2208};
  KR_OK(mach_msg(&h, MACH_SEND_MSG, sizeof h, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL));
  mach_port_t carried = receive_right();
  struct {
    mach_msg_header_t h;
    mach_msg_type_t t;
    mach_port_name_inlined_t port;
  } with_right = {
      .h = {.msgh_bits = MACH_MSGH_BITS_COMPLEX | MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
            .msgh_size = sizeof with_right, .msgh_remote_port = o.port, .msgh_id = 4242},
      .t = {.msgt_name = MACH_MSG_TYPE_MAKE_SEND, .msgt_size = 64, .msgt_number = 1,
            .msgt_inline = TRUE},
      .port = {.name = carried}};
  KR_OK(mach_msg(&with_right.h, MACH_SEND_MSG, sizeof with_right, 0, MACH_PORT_NULL, 0,
                 MACH_PORT_NULL));
  static struct {
    mach_msg_header_t h;
    mach_msg_type_t t;
    char data[3 * kPage];
  } big;
  big.h = (mach_msg_header_t){.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0),
                              .msgh_size = sizeof big, .msgh_remote_port = o.port,
                              .msgh_id = 2203};
  big.t = (mach_msg_type_t){.msgt_name = MACH_MSG_TYPE_BYTE, .msgt_size = 8,
                            .msgt_number = sizeof big.data, .msgt_inline = TRUE};
  KR_OK(mach_msg(&big.h, MACH_SEND_MSG, sizeof big, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL));
  /* The object's later messages still get their turn. */
  KR_OK(put(&o, 1, 1, 1));
  const uint32_t want01[] = {0, 1};
  EXPECT_EQ(check_pages(&o, 0, 2, want01), 0);
  bool released = false;
  for (int t = 0; t < kWaitMs && !released; t += 10) {
    released = !status_of(carried).mps_srights;
    if (!released)
      msleep(10);
  }
  EXPECT(released);
  destroy(carried);

  /* memory_object_init on an object made by memory_object_create: refused, no ready. */
  mach_port_t c2 = receive_right(), n2 = receive_right();
  KR_OK(memory_object_init(o.port, c2, n2, kPage));
  struct obj on_c2 = o;
  on_c2.control = c2;
  EXPECT(control_quiet(&on_c2, 200));
  destroy(c2);
  destroy(n2);

  /* memory_object_create refused: a page size not 4096, not on the default port, no port.
     The receive rights it moved are destroyed: our send rights become dead names. */
  mach_port_t mo = receive_and_send(), c3 = receive_right(), n3 = receive_right();
  add_send_ref(dp);
  KR_OK(memory_object_create(dp, mo, kPage, c3, n3, 2 * kPage));
  EXPECT(wait_dead(mo, kWaitMs));
  destroy(mo);
  mo = receive_and_send();
  add_send_ref(o.port);
  KR_OK(memory_object_create(o.port, mo, kPage, c3, n3, kPage));
  EXPECT(wait_dead(mo, kWaitMs));
  destroy(mo);
  add_send_ref(dp);
  KR_OK(memory_object_create(dp, MACH_PORT_NULL, kPage, c3, n3, kPage));

  /* memory_object_terminate of an object the pager does not know (on its default port), and
     of ours with a control port not its own: the rights it moved are destroyed. */
  mach_port_t c4 = receive_and_send(), n4 = receive_and_send();
  add_send_ref(dp);
  KR_OK(memory_object_terminate(dp, c4, n4));
  EXPECT(wait_dead(c4, kWaitMs));
  EXPECT(wait_dead(n4, kWaitMs));
  destroy(c4);
  destroy(n4);
  mach_port_t c5 = receive_and_send(), n5 = receive_and_send();
  add_send_ref(o.port);
  KR_OK(memory_object_terminate(o.port, c5, n5));
  EXPECT(wait_dead(c5, kWaitMs));
  destroy(c5);
  destroy(n5);
  /* Requests on the default port for an object it does not have: no answer. */
  KR_OK(memory_object_data_request(dp, o.control, 0, kPage, VM_PROT_READ));
  EXPECT(control_quiet(&o, 200));

  /* After all that, the object is as it was, and new objects work. */
  EXPECT_EQ(check_pages(&o, 0, 2, want01), 0);
  EXPECT(ptype(o.port) & MACH_PORT_TYPE_SEND);
  struct obj fresh;
  ASSERT(obj_create(&fresh));
  KR_OK(put(&fresh, 0, 2, 5));
  EXPECT_EQ(check_range(&fresh, 0, 2, 5), 0);
  EXPECT(obj_terminate(&fresh));
  EXPECT(obj_terminate(&o));
  destroy(c3);
  destroy(n3);
}

/* Fills the swap to its last block across objects, overflows it, frees it with
   memory_object_terminate, and fills it again. */
TEST(swap_fills_and_terminate_frees_it) {
  uint32_t capacity = swap_capacity();
  ASSERT(capacity > 800 && capacity < 4096);
  struct obj o[4];
  for (int i = 0; i < 4; i++)
    ASSERT(obj_create(&o[i]));
  /* Batches of up to kBatch pages, round robin over three objects, 400 + 400 + the rest. */
  uint32_t size[3] = {400, 400, capacity - 800}, done[3] = {0, 0, 0};
  for (bool more = true; more;) {
    more = false;
    for (int i = 0; i < 3; i++) {
      uint32_t n = size[i] - done[i] < kBatch ? size[i] - done[i] : kBatch;
      if (n == 0)
        continue;
      KR_OK(put(&o[i], done[i], n, 1));
      done[i] += n;
      more = true;
    }
  }
  /* Messages to different objects may be served in any order: the last page of each
     object, asked for, shows that all its pages before it have their blocks. */
  for (int i = 0; i < 3; i++)
    EXPECT_EQ(check_range(&o[i], size[i] - 1, 1, 1), 0);
  /* Full: a new page is dropped (and reads as never written); a page that has a block is
     still rewritten in place. */
  KR_OK(put(&o[3], 0, 1, 1));
  EXPECT_EQ(check_range(&o[3], 0, 1, 0), 0);
  KR_OK(put(&o[0], 10, 1, 2));
  EXPECT_EQ(check_range(&o[0], 10, 1, 2), 0);
  for (int i = 0; i < 3; i++)
    for (uint32_t p = 0; p < size[i]; p += kBatch) {
      uint32_t n = size[i] - p < kBatch ? size[i] - p : kBatch;
      uint32_t want[kBatch];
      for (uint32_t k = 0; k < n; k++)
        want[k] = i == 0 && p + k == 10 ? 2 : 1;
      EXPECT_EQ(check_pages(&o[i], p, n, want), 0);
    }
  for (int i = 0; i < 4; i++)
    EXPECT(obj_terminate(&o[i]));

  /* Every block is free again: one object takes them all, and not one more. */
  struct obj big;
  ASSERT(obj_create(&big));
  for (uint32_t p = 0; p < capacity; p += kBatch)
    KR_OK(put(&big, p, capacity - p < kBatch ? capacity - p : kBatch, 3));
  for (uint32_t p = 0; p < capacity; p += kBatch)
    EXPECT_EQ(check_range(&big, p, capacity - p < kBatch ? capacity - p : kBatch, 3), 0);
  KR_OK(put(&big, capacity, 1, 3));
  EXPECT_EQ(check_range(&big, capacity, 1, 0), 0);
  EXPECT(obj_terminate(&big));
}

/* Clients in parallel threads, each with its own object. */
enum { kClients = 4, kRounds = 30 };
static volatile int clients_done;

/* Asks for one page from a client thread: the generation its data names (the words that
   name it are checked; the rest of the pattern is the main thread's to check), 0 for
   data_unavailable, BAD_DATA for anything else. */
static uint32_t client_get(const struct obj *o, uint32_t page) {
  if (memory_object_data_request(o->port, o->control, (vm_offset_t)page * kPage, kPage,
                                 VM_PROT_READ) != KERN_SUCCESS)
    return BAD_DATA;
  union answer_msg m;
  mach_msg_return_t mr = mach_msg(&m.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m,
                                  o->control, kWaitMs, MACH_PORT_NULL);
  if (mr != MACH_MSG_SUCCESS)
    return BAD_DATA;
  uint32_t gen = BAD_DATA;
  if (m.head.msgh_id == kIdSupply && m.supply.dataType.msgtl_number == kPage &&
      m.supply.offset == (vm_offset_t)page * kPage) {
    const uint64_t *w = (const uint64_t *)m.supply.data;
    if (w[0] == kMagic && w[1] == o->tag && w[2] == page)
      gen = (uint32_t)w[3];
    vm_deallocate(mach_task_self(), m.supply.data, m.supply.dataType.msgtl_number);
  } else if (m.head.msgh_id == kIdUnavailable && m.range.offset == (vm_offset_t)page * kPage &&
             m.range.size == kPage) {
    gen = 0;
  } else {
    mach_msg_destroy(&m.head);
  }
  return gen;
}

static void client(long i) {
  struct obj o;
  if (obj_create(&o)) {
    uint32_t last[8] = {0};
    for (uint32_t r = 1; r <= kRounds; r++) {
      uint32_t page = (r * 3 + (uint32_t)i) % 8;
      EXPECT_EQ(put(&o, page, 1, r), KERN_SUCCESS);
      last[page] = r;
      EXPECT_EQ(client_get(&o, page), r);
    }
    for (uint32_t page = 0; page < 8; page++)
      EXPECT_EQ(client_get(&o, page), last[page]);
    EXPECT(obj_terminate(&o));
  }
  __atomic_fetch_add(&clients_done, 1, __ATOMIC_SEQ_CST);
  thread_exit();
}

TEST(parallel_clients) {
  ASSERT(MACH_PORT_VALID(dp));
  clients_done = 0;
  for (long i = 0; i < kClients; i++)
    ASSERT(start_thread(client, i) != MACH_PORT_NULL);
  for (int t = 0; t < 60000 && clients_done < kClients; t += 20)
    msleep(20);
  EXPECT_EQ(clients_done, kClients);
}

/* mach_msg sends the message whose header lies at addr: the kernel reads the page first
   (copyin). MACH_SEND_INVALID_DATA if it cannot get the page; a page it got holds no valid
   header, and fails otherwise. So a pager that does not answer fails the test, not the
   task. */
static mach_msg_return_t kernel_reads(vm_address_t addr) {
  return mach_msg((mach_msg_header_t *)addr, MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                  sizeof(mach_msg_header_t), 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
}

/* The kernel's own path: a task maps the default port with vm_map, the kernel sends
   memory_object_init there, and the pager serves a temporary object, zero until written. */
TEST(vm_map_of_the_default_port) {
  ASSERT(MACH_PORT_VALID(dp));
  task_t self = mach_task_self();
  enum { kPages = 16 };
  for (int round = 0; round < 2; round++) {
    vm_address_t a = 0;
    KR_OK(vm_map(self, &a, kPages * kPage, 0, TRUE, dp, 0, FALSE, VM_PROT_READ | VM_PROT_WRITE,
                 VM_PROT_ALL, VM_INHERIT_NONE));
    bool readable = true;
    for (int i = 0; i < kPages; i++)
      if (kernel_reads(a + i * kPage) == MACH_SEND_INVALID_DATA)
        readable = false;
    EXPECT(readable);
    if (readable) {
      /* Zero, in a fresh object each time (the first one's pages were written). */
      for (int i = 0; i < kPages; i++)
        EXPECT_EQ(*(volatile uint64_t *)(a + i * kPage + 8 * i), 0);
      for (int i = 0; i < kPages; i++)
        *(volatile uint64_t *)(a + i * kPage) = kMagic + (uint64_t)i;
      for (int i = 0; i < kPages; i++)
        EXPECT_EQ(*(volatile uint64_t *)(a + i * kPage), kMagic + (uint64_t)i);
    }
    /* The kernel returns the dirty pages, then terminates the object. */
    KR_OK(vm_deallocate(self, a, kPages * kPage));
    msleep(100);
  }
}

int main(int argc, char **argv) {
  if (argc > 2) {
    host_priv = (mach_port_t)strtoul(argv[1], NULL, 10);
    device_master = (mach_port_t)strtoul(argv[2], NULL, 10);
  }
  return test_main(argc, argv);
}
