/* Part 1: mach_msg with every kind of wrongness (fuzz_mach_msg), and the random message
   bodies and ids the raw kernel messages use too. */
#include <mach.h>
#include <mach/notify.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"

/* A buffer for mach_msg: returns its address and, in *max, how many bytes the kernel may be
   allowed to write there (the size the call may pass). Memory we rely on is never offered. */
static uint64_t pick_buffer(uint32_t *max) {
  uint64_t page = vm_page_size, a = (uint64_t)arena;
  uint64_t p;
  switch (rnd(12)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
      p = a; /* the message as built */
      break;
    case 5:
      p = a + rnd(kTouched * page); /* anywhere in the buffers, unaligned */
      break;
    case 6:
      p = a + kTouched * page - 8 * (1 + rnd(64)); /* half-mapped: runs into the hole */
      break;
    case 7:
      p = a + (kTouched + 1 + rnd(3)) * page + 8 * rnd(64); /* lazy pages, read-only page */
      break;
    case 8:
      p = chance(50) ? 0 : rnd(page); /* null page */
      break;
    case 9:
      p = chance(50) ? KERNEL_HALF + rnd64() % (1ull << 40) : ~0ull - rnd(4096);
      break;
    case 10:
      p = PLAYGROUND + rnd64() % PLAYGROUND_SIZE;
      break;
    default:
      p = rnd64() & (chance(50) ? 0x00007fffffffffffull : ~0ull);
      break;
  }
  if (p >= a && p < arena_writable_end) {
    *max = (uint32_t)(arena_writable_end - p);
    return p;
  }
  /* Elsewhere the kernel may write as much as the largest message: never over our own. */
  if (range_protected(p, 8u << 20)) p = a + kTouched * page; /* the hole */
  *max = p >= a && p < arena_writable_end ? (uint32_t)(arena_writable_end - p) : ~0u;
  return p;
}

/* --- Part 1: mach_msg --- */

/* An address for out-of-line data of len bytes; with deallocate, one the kernel may take
   away from us. */
static uint64_t ool_address(uint64_t len, bool dealloc) {
  uint64_t page = vm_page_size, p;
  switch (rnd(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      p = get_scratch();
      break;
    case 4:
      p = get_scratch() + rnd(kScratchPages * page);
      break;
    case 5:
      p = get_scratch() + kScratchPages * page - 8 * rnd(64); /* runs past the end */
      break;
    case 6:
      p = chance(50) ? 0 : KERNEL_HALF + rnd64() % (1ull << 40);
      break;
    case 7:
      p = PLAYGROUND + rnd64() % PLAYGROUND_SIZE;
      break;
    default:
      p = rnd64() & (chance(50) ? 0x00007fffffffffffull : ~0ull);
      break;
  }
  /* Never our own memory: a copy-on-write copy of part of a region splits its entry, and the
     pieces stay apart (and a shadow object may stay in front of one of them, see make_arena)
     although nothing leaked. An address in the kernel half instead: always refused. */
  (void)dealloc;
  if (range_protected(p, len)) p = KERNEL_HALF + 8 * rnd(1024);
  return p;
}

/* Random type descriptors and data from b to end; returns the end of what was written. */
uint8_t *random_body(uint8_t *b, uint8_t *end, bool allow_receive) {
  int items = (int)rnd(6);
  for (int n = 0; n < items && b + sizeof(mach_msg_type_long_t) <= end; n++) {
    mach_msg_type_long_t t;
    memset(&t, 0, sizeof t);
    uint32_t r = rnd(100);
    unsigned name;
    if (r < 40)
      name = MACH_MSG_TYPE_MOVE_RECEIVE + rnd(6);
    else if (r < 48)
      name = MACH_MSG_TYPE_PORT_NAME;
    else if (r < 80) {
      static const unsigned data_types[] = {0, 1, 2, 8, 9, 10, 11, 12};
      name = data_types[rnd(8)];
    } else if (r < 85)
      name = MACH_MSG_TYPE_PROTECTED_PAYLOAD;
    else
      name = rnd(256);
    if (name == MACH_MSG_TYPE_MOVE_RECEIVE && !allow_receive)
      name = MACH_MSG_TYPE_MOVE_SEND + rnd(5);
    bool port = MACH_MSG_TYPE_PORT_ANY(name) || name == MACH_MSG_TYPE_PORT_NAME;
    unsigned size;
    if (port && chance(85))
      size = 64;
    else {
      static const unsigned sizes[] = {0, 1, 8, 16, 32, 64, 128, 7};
      size = chance(80) ? sizes[rnd(8)] : rnd(65536);
    }
    uint32_t number;
    r = rnd(100);
    if (r < 55)
      number = 1 + rnd(4);
    else if (r < 65)
      number = 0;
    else if (r < 90)
      number = rnd(4096);
    else
      number = rnd32();
    t.msgtl_name = name;
    t.msgtl_size = size;
    t.msgtl_number = number;
    t.msgtl_inline = chance(70);
    t.msgtl_longform = chance(10);
    t.msgtl_deallocate = chance(15);
    if (chance(5)) t.msgtl_unused = rnd(32);
    memcpy(b, &t, sizeof t);
    b += sizeof t;
    uint64_t bits = (uint64_t)number * size;
    uint64_t len = (bits + 7) / 8;
    if (t.msgtl_inline) {
      uint64_t padded = (len + 7) & ~7ull;
      if (padded > (uint64_t)(end - b)) {
        /* Does not fit: claim it anyway (a short message) or stop here. */
        return chance(50) ? end : b;
      }
      if (port && size == 64) {
        for (uint64_t k = 0; k < number; k++) {
          uint64_t slot = rand_name();
          if (chance(5)) slot |= (uint64_t)rnd32() << 32;
          memcpy(b + 8 * k, &slot, 8);
        }
      } else {
        for (uint64_t k = 0; k < padded; k += 4) {
          uint32_t w = chance(30) ? rand_name() : rnd32();
          memcpy(b + k, &w, 4);
        }
      }
      b += padded;
    } else {
      if (b + 8 > end) return b;
      /* Out-of-line ports are 32-bit names in memory: len counts them as the kernel will
         (number * 4 bytes), not by msgt_size. */
      uint64_t mem_len = port ? (uint64_t)number * 4 : len;
      uint64_t p = ool_address(mem_len, t.msgtl_deallocate);
      memcpy(b, &p, 8);
      b += 8;
    }
  }
  return b;
}

/* Message ids that would make the kernel act on our own task or thread in a way the fuzz
   cannot survive or undo (terminate, suspend, abort, set state or special ports, change
   protected memory or names, create tasks and threads whose ports could be lost). Raw
   messages to our own task or thread never carry them. */
bool id_harmful_to_self(mach_msg_id_t id) {
  static const int deny[] = {2007, 2008, 2010, 2016, 2018, 2023, 2024, 2025, 2027, 2028, 2033, 2041,
                             2056, 2059, 2061, 2062, 2064, 2068, 2070, 2071, 2089, 2099, 3202, 3205,
                             3206, 3208, 3210, 3211, 3213, 3214, 3215, 3216, 3218, 3221, 3222, 2613,
                             2614, 2616, 2617, 2620, 2621, 2622, 2624, 2636, 2637};
  for (size_t i = 0; i < sizeof deny / sizeof deny[0]; i++)
    if (deny[i] == id) return true;
  return false;
}

/* A msgh_id: a routine of mach.defs, mach_host.defs or mach_port.defs, a reply id, a
   notification, or anything. */
mach_msg_id_t rand_id(void) {
  switch (rnd(8)) {
    case 0:
    case 1:
      return 2000 + (mach_msg_id_t)rnd(110);
    case 2:
      return 2600 + (mach_msg_id_t)rnd(50);
    case 3:
      return 3200 + (mach_msg_id_t)rnd(30);
    case 4:
      return 2100 + (mach_msg_id_t)rnd(30); /* replies */
    case 5:
      return MACH_NOTIFY_FIRST + (mach_msg_id_t)rnd(12);
    case 6:
      return (mach_msg_id_t)rnd32();
    default:
      return (mach_msg_id_t)rnd(5000) - 100;
  }
}

static mach_port_t kernel_target(void) {
  switch (rnd(3)) {
    case 0:
      return self_task;
    case 1:
      return self_thread;
    default:
      return self_host;
  }
}

/* One mach_msg of every kind of wrongness. */
void fuzz_one_msg(long i) {
  uint8_t *buf = arena;
  uint8_t *end = arena + 4096 + rnd(60 * 1024);
  mach_msg_header_t *h = (mach_msg_header_t *)buf;
  memset(h, 0, sizeof *h);
  bool to_kernel = chance(20);
  bool to_sink = !to_kernel && MACH_PORT_VALID(sink) && chance(20);
  mach_msg_type_name_t remote_disp = rand_disp(), local_disp = rand_disp();
  if (to_sink) {
    h->msgh_remote_port = sink;
    remote_disp = chance(80) ? MACH_MSG_TYPE_MAKE_SEND : MACH_MSG_TYPE_MAKE_SEND_ONCE;
  } else if (to_kernel) {
    h->msgh_remote_port = kernel_target();
    /* Only a copy of a protected send right, or a disposition that is refused before it
       touches the right. */
    remote_disp = chance(85) ? MACH_MSG_TYPE_COPY_SEND : (chance(50) ? 0 : 22 + rnd(200));
  } else {
    h->msgh_remote_port = rand_name();
  }
  h->msgh_local_port = rand_name();
  h->msgh_bits = MACH_MSGH_BITS(remote_disp, local_disp);
  if (chance(50)) h->msgh_bits |= MACH_MSGH_BITS_COMPLEX;
  if (chance(10)) h->msgh_bits |= rnd32() & 0x7fff0000u;
  h->msgh_seqno = rnd32();
  h->msgh_id = rand_id();
  if (to_kernel && h->msgh_remote_port != self_host && id_harmful_to_self(h->msgh_id))
    h->msgh_id = 2000 + 200 + (mach_msg_id_t)rnd(300); /* no routine there */
  uint8_t *body_end = random_body(buf + sizeof *h, end, to_kernel || to_sink);
  uint32_t built = (uint32_t)(body_end - buf);

  /* The sizes: the message as built, or something else. */
  uint32_t send_size;
  switch (rnd(10)) {
    case 0:
      send_size = 0;
      break;
    case 1:
      send_size = rnd(40);
      break;
    case 2:
      send_size = built + rnd(16) - 8;
      break;
    case 3:
      send_size = chance(50) ? ~0u - rnd(16) : (4u << 20) + 8 * rnd(4);
      break;
    case 4:
      send_size = 8 * rnd(8192);
      break;
    default:
      send_size = built;
      break;
  }
  mach_msg_option_t option = 0;
  uint32_t r = rnd(100);
  if (r < 45)
    option = MACH_SEND_MSG;
  else if (r < 70)
    option = MACH_SEND_MSG | MACH_RCV_MSG;
  else if (r < 95)
    option = MACH_RCV_MSG;
  if (chance(30))
    option |= rnd32() & (MACH_SEND_NOTIFY | MACH_SEND_INTERRUPT | MACH_SEND_CANCEL |
                         MACH_RCV_NOTIFY | MACH_RCV_INTERRUPT | MACH_RCV_LARGE | MACH_SEND_ALWAYS);
  if (chance(5)) option |= rnd32() & 0xfffe0000u;
  option |= MACH_SEND_TIMEOUT | MACH_RCV_TIMEOUT; /* never block for long */
  mach_msg_timeout_t timeout = chance(80) ? 0 : 1 + rnd(2);

  uint32_t max;
  uint64_t p = pick_buffer(&max);
  if (p != (uint64_t)arena && p >= (uint64_t)arena &&
      p < (uint64_t)arena + kTouched * vm_page_size) {
    /* Put (as much as fits of) the message at the unaligned or half-mapped place. */
    uint64_t room = (uint64_t)arena + kTouched * vm_page_size - p;
    memmove((void *)p, buf, built < room ? built : room);
  }
  if (send_size > max) send_size = max & ~7u;
  uint32_t rcv_size;
  switch (rnd(6)) {
    case 0:
      rcv_size = 0;
      break;
    case 1:
      rcv_size = rnd(64);
      break;
    case 2:
      rcv_size = ~0u;
      break;
    default:
      rcv_size = rnd(70000);
      break;
  }
  if (rcv_size > max) rcv_size = max;
  mach_port_t rcv_name = chance(70) ? pool[rnd(kPool)] : chance(10) ? sink : rand_name();
  TRACE(i, "msg %ld: buf %lx opt %x send %u rcv %u name %u to %u bits %x local %u id %d t %u\n", i,
        (unsigned long)p, option, send_size, rcv_size, rcv_name, h->msgh_remote_port, h->msgh_bits,
        h->msgh_local_port, h->msgh_id, timeout);
  mach_msg_return_t mr = mach_msg_trap((mach_msg_header_t *)p, option, send_size, rcv_size,
                                       rcv_name, timeout, rand_name());
  TRACE(i, "  -> %x\n", mr);
  (void)mr;
}
