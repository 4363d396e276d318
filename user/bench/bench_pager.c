/* The external pager benchmark: a data manager thread in this task answers each
   memory_object_data_request with memory_object_data_supply of the asked range (up to 16
   pages) from a buffer of its own, as the GNU Mach peer's bench_pager does
   (../shared/peers/gnumach-qemu/src/bench.c), with the same names:
   vm_map_memory_object_8MiB and external_pager_fault_read_per_page (2048 pages read once
   each). The "#" line counts the data requests of one pass. */
#include <mach.h>
#include <mach/memory_object.h>
#include <mica_thread.h>
#include <stdint.h>
#include <stdio.h>

#include "bench.h"

boolean_t memory_object_server(mach_msg_header_t *request, mach_msg_header_t *reply);
/* The routines below take every argument of the .defs, used or not. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

enum { kPagerPages = 2048, kSupplyPages = 16 };

static vm_address_t supply_buf;
static volatile int requests;

kern_return_t memory_object_init(mach_port_t mo, mach_port_t ctl, mach_port_t name,
                                 vm_size_t page_size) {
  return memory_object_ready(ctl, FALSE, MEMORY_OBJECT_COPY_NONE);
}
kern_return_t memory_object_data_request(mach_port_t mo, mach_port_t ctl, vm_offset_t offset,
                                         vm_size_t length, vm_prot_t access) {
  requests++;
  if (length > kSupplyPages * PAGE) length = kSupplyPages * PAGE;
  return memory_object_data_supply(ctl, offset, supply_buf, length, FALSE, VM_PROT_NONE, FALSE,
                                   MACH_PORT_NULL);
}
kern_return_t memory_object_terminate(mach_port_t mo, mach_port_t ctl, mach_port_t name) {
  mach_port_destroy(mach_task_self(), ctl);
  mach_port_destroy(mach_task_self(), name);
  return KERN_SUCCESS;
}
kern_return_t memory_object_copy(mach_port_t a, mach_port_t b, vm_offset_t c, vm_size_t d,
                                 mach_port_t e) { return KERN_FAILURE; }
kern_return_t memory_object_data_unlock(mach_port_t a, mach_port_t b, vm_offset_t c,
                                        vm_size_t d, vm_prot_t e) { return KERN_FAILURE; }
kern_return_t memory_object_lock_completed(mach_port_t a, mach_msg_type_name_t b, mach_port_t c,
                                           vm_offset_t d, vm_size_t e) { return KERN_SUCCESS; }
kern_return_t memory_object_supply_completed(mach_port_t a, mach_msg_type_name_t b,
                                             mach_port_t c, vm_offset_t d, vm_size_t e,
                                             kern_return_t f, vm_offset_t g) {
  return KERN_SUCCESS;
}
kern_return_t memory_object_data_return(mach_port_t a, mach_port_t b, vm_offset_t c,
                                        vm_offset_t d, mach_msg_type_number_t e, boolean_t f,
                                        boolean_t g) {
  vm_deallocate(mach_task_self(), d, e);
  return KERN_SUCCESS;
}
kern_return_t memory_object_change_completed(mach_port_t a, mach_msg_type_name_t b,
                                             boolean_t c, memory_object_copy_strategy_t d) {
  return KERN_SUCCESS;
}

static char pager_stack[32768] __attribute__((aligned(16)));

static void pager_loop(void *arg) {
  mach_port_t port = (mach_port_t)(uintptr_t)arg;
  static struct { mach_msg_header_t h; char body[8192]; } in;
  static struct { mig_reply_header_t r; char body[256]; } out;
  for (;;) {
    if (mach_msg(&in.h, MACH_RCV_MSG, 0, sizeof in, port, 0, MACH_PORT_NULL) ==
        MACH_MSG_SUCCESS)
      memory_object_server(&in.h, &out.r.Head);
  }
}

void bench_pager(void) {
  mach_port_t self = mach_task_self(), mo;
  if (vm_allocate(self, &supply_buf, kSupplyPages * PAGE, TRUE) != KERN_SUCCESS ||
      mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &mo) != KERN_SUCCESS ||
      mach_port_insert_right(self, mo, mo, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS) {
    printf("# pager: set-up failed\n");
    return;
  }
  for (unsigned i = 0; i < kSupplyPages * PAGE / 4; i++) ((uint32_t *)supply_buf)[i] = 0xfeedbeef;
  if (mica_thread_start(pager_loop, (void *)(uintptr_t)mo, pager_stack, sizeof pager_stack) <= 0) {
    printf("# pager: no thread\n");
    return;
  }
  uint64_t map_cycles[kMaxReps], fault_cycles[kMaxReps];
  int reqs = 0;
  for (int round = -1; round < reps; round++) {
    vm_address_t a = 0;
    int req0 = requests;
    uint64_t t0 = rdtsc();
    kern_return_t kr = vm_map(self, &a, kPagerPages * PAGE, 0, TRUE, mo, 0, FALSE,
                              VM_PROT_READ | VM_PROT_WRITE, VM_PROT_READ | VM_PROT_WRITE,
                              VM_INHERIT_NONE);
    uint64_t t1 = rdtsc();
    if (kr != KERN_SUCCESS) {
      printf("# pager: vm_map %d\n", kr);
      return;
    }
    uint32_t sum = 0;
    for (unsigned i = 0; i < kPagerPages; i++) sum += *(volatile uint32_t *)(a + i * PAGE);
    uint64_t t2 = rdtsc();
    if (sum != 0xfeedbeef * kPagerPages) printf("# pager: data mismatch\n");
    vm_deallocate(self, a, kPagerPages * PAGE);
    reqs = requests - req0;
    if (round < 0) continue;  // warm-up
    map_cycles[round] = t1 - t0;
    fault_cycles[round] = t2 - t1;
  }
  report("vm_map_memory_object_8MiB", map_cycles, 1);
  report("external_pager_fault_read_per_page", fault_cycles, kPagerPages);
  printf("# pager_data_requests_for_2048_pages %d\n", reqs);
}
