/* Part 3: raw messages with random ids and bodies to the kernel's ports
   (fuzz_raw_kernel_messages). */
#include <mach.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"

/* --- Part 3: raw messages to kernel ports --- */

/* A body MIG might half believe: typed integers and ports, well formed or nearly. */
static uint8_t *mig_like_body(uint8_t *b, uint8_t *end) {
  int items = (int)rnd(8);
  for (int n = 0; n < items && b + 16 <= end; n++) {
    mach_msg_type_t t;
    memset(&t, 0, sizeof t);
    uint64_t value;
    uint32_t r = rnd(100);
    if (r < 50) {
      t.msgt_name = MACH_MSG_TYPE_INTEGER_32;
      t.msgt_size = 32;
      t.msgt_number = 1;
      static const uint64_t interesting[] = {0, 1, 2, 4096, 0xffffffff, 0x7fffffff, 16, 3};
      value = chance(50) ? interesting[rnd(8)] : rnd32();
    } else if (r < 70) {
      t.msgt_name = MACH_MSG_TYPE_INTEGER_64;
      t.msgt_size = 64;
      t.msgt_number = 1;
      value = chance(50) ? PLAYGROUND + rnd(64) * vm_page_size : rnd64();
    } else if (r < 85) {
      t.msgt_name = chance(70) ? MACH_MSG_TYPE_COPY_SEND : MACH_MSG_TYPE_MAKE_SEND_ONCE;
      t.msgt_size = 64;
      t.msgt_number = 1;
      value = rand_name();
    } else {
      t.msgt_name = rnd(24);
      t.msgt_size = chance(50) ? 32 : rnd(256);
      t.msgt_number = chance(50) ? 1 : rnd(64);
      value = rnd64();
    }
    t.msgt_inline = chance(95);
    if (chance(5)) t.msgt_longform = 1;
    memcpy(b, &t, sizeof t);
    memcpy(b + 8, &value, 8);
    b += 16;
  }
  return b;
}

void fuzz_one_raw(long i) {
  uint8_t *buf = arena;
  mach_msg_header_t *h = (mach_msg_header_t *)buf;
  memset(h, 0, sizeof *h);
  mach_port_t dest;
  uint32_t r = rnd(100);
  if (r < 40)
    dest = self_task;
  else if (r < 60)
    dest = self_thread;
  else if (r < 85)
    dest = self_host;
  else if (r < 93 && MACH_PORT_VALID(child_task))
    dest = child_task;
  else
    dest = rand_name();
  mach_port_t reply = pool_receiver();
  h->msgh_remote_port = dest;
  h->msgh_local_port = chance(85) ? reply : rand_name();
  mach_msg_type_name_t local_disp = chance(80)
                                        ? MACH_MSG_TYPE_MAKE_SEND_ONCE
                                        : (chance(50) ? MACH_MSG_TYPE_MAKE_SEND : rand_disp());
  h->msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, local_disp);
  h->msgh_id = rand_id();
  if ((dest == self_task || dest == self_thread) && id_harmful_to_self(h->msgh_id))
    h->msgh_id = 5000 + (mach_msg_id_t)rnd(1000);
  /* A grandchild's task port in a reply we may never read would leave a task nobody can
     terminate. */
  if (h->msgh_id == 2007) h->msgh_id = 2006;
  uint8_t *end = buf + 2048;
  uint8_t *b = buf + sizeof *h;
  if (chance(60)) {
    b = mig_like_body(b, end);
  } else if (chance(50)) {
    b = random_body(b, end,
                    dest == self_task || dest == self_thread || dest == self_host ||
                        (MACH_PORT_VALID(child_task) && dest == child_task));
    h->msgh_bits |= MACH_MSGH_BITS_COMPLEX;
  } else {
    uint32_t n = 8 * rnd(64);
    for (uint32_t k = 0; k < n; k += 4) {
      uint32_t w = rnd32();
      memcpy(b + k, &w, 4);
    }
    b += n;
  }
  for (uint8_t *p = b; p < buf + 2048; p++) *p = 0;
  if (chance(30)) h->msgh_bits |= MACH_MSGH_BITS_COMPLEX;
  uint32_t size = (uint32_t)(b - buf);
  if (chance(10)) size = 8 * rnd(256);
  TRACE(i, "raw %ld: to %u id %d size %u bits %x reply %u\n", i, dest, h->msgh_id, size,
        h->msgh_bits, h->msgh_local_port);
  mach_msg_return_t mr = mach_msg_trap(h, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0,
                                       MACH_PORT_NULL, 0, MACH_PORT_NULL);
  TRACE(i, "  -> %x\n", mr);
  /* The reply, if any: received (its rights and memory swept later) or left queued. */
  if (mr == MACH_MSG_SUCCESS && MACH_PORT_VALID(reply) && chance(80)) {
    mr = mach_msg_trap(h, MACH_RCV_MSG | MACH_RCV_TIMEOUT | (chance(20) ? MACH_RCV_LARGE : 0), 0,
                       chance(90) ? 8192 : rnd(64), reply, 0, MACH_PORT_NULL);
    TRACE(i, "  reply %x id %d\n", mr, mr == MACH_MSG_SUCCESS ? h->msgh_id : 0);
  }
}
