/* The external pager benchmarks: a data manager thread in this task answers each
   memory_object_data_request with memory_object_data_supply of the asked range (up to 16
   pages) from a buffer of its own, as the GNU Mach peer's bench_pager does
   (../shared/peers/gnumach-qemu/src/bench.c), with the same names:
   vm_map_memory_object_8MiB and external_pager_fault_read_per_page (2048 pages read once
   each). The "#" line counts the data requests of one pass.
   external_pager_fault_one_page_per_request is the same with a pager that supplies only the
   first page asked for: one request per page on every kernel, as Linux's uffd_copy_fault
   (one UFFDIO_COPY per fault) and as GNU Mach, which asks for one page. bench_vm_map times vm_map and
   vm_deallocate of the same object, untouched.
   Only the GNU Mach ABI is used (the thread starts with thread_create and thread_set_state),
   so the module runs on GNU Mach too (tools/gnumach-boot.sh, docs/benchmarks.md). */
#include <mach.h>
#include <mach/memory_object.h>
#include <mach/thread_status.h>
#include <stdint.h>
#include <stdio.h>

#include "bench.h"

boolean_t memory_object_server(mach_msg_header_t *request, mach_msg_header_t *reply);
/* The routines below take every argument of the .defs, used or not. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

enum { kPagerPages = 2048, kSupplyPages = 16 };

static vm_address_t supply_buf;
static volatile int requests, inits, terminates;
static volatile unsigned supply_cap = kSupplyPages;  // pages a data_supply gives at most

kern_return_t memory_object_init(mach_port_t mo, mach_port_t ctl, mach_port_t name,
                                 vm_size_t page_size) {
  inits++;
  return memory_object_ready(ctl, FALSE, MEMORY_OBJECT_COPY_NONE);
}
kern_return_t memory_object_data_request(mach_port_t mo, mach_port_t ctl, vm_offset_t offset,
                                         vm_size_t length, vm_prot_t access) {
  requests++;
  if (length > supply_cap * PAGE) length = supply_cap * PAGE;
  return memory_object_data_supply(ctl, offset, supply_buf, length, FALSE, VM_PROT_NONE, FALSE,
                                   MACH_PORT_NULL);
}
kern_return_t memory_object_terminate(mach_port_t mo, mach_port_t ctl, mach_port_t name) {
  terminates++;
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

/* Starts fn(arg) in a new thread of this task: thread_create, thread_set_state
   (i386_REGS_SEGS_STATE), thread_resume. */
static int start_thread(void (*fn)(long), long arg) {
  static char stack[32768] __attribute__((aligned(16)));
  thread_t thread = MACH_PORT_NULL;
  kern_return_t kr = thread_create(mach_task_self(), &thread);
  struct i386_thread_state st;
  mach_msg_type_number_t count = i386_THREAD_STATE_COUNT;
  if (kr == KERN_SUCCESS)
    kr = thread_get_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st, &count);
  if (kr == KERN_SUCCESS) {
    st.rip = (uint64_t)(uintptr_t)fn;
    st.ursp = (uint64_t)(uintptr_t)(stack + sizeof stack) - 8;  // as after a call
    st.rbp = 0;
    st.rdi = (uint64_t)arg;
    kr = thread_set_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st,
                          i386_THREAD_STATE_COUNT);
  }
  if (kr == KERN_SUCCESS)
    kr = thread_resume(thread);
  return kr == KERN_SUCCESS;
}

static void msleep(mach_msg_timeout_t ms) {
  static mach_port_t port;
  if (port == MACH_PORT_NULL)
    port = mach_reply_port();
  mach_msg_header_t h;
  mach_msg(&h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof h, port, ms, MACH_PORT_NULL);
}

static void pager_loop(long port) {
  static struct { mach_msg_header_t h; char body[8192]; } in;
  static struct { mig_reply_header_t r; char body[256]; } out;
  for (;;) {
    if (mach_msg(&in.h, MACH_RCV_MSG, 0, sizeof in, (mach_port_t)port, 0, MACH_PORT_NULL) ==
        MACH_MSG_SUCCESS)
      memory_object_server(&in.h, &out.r.Head);
  }
}

/* The memory object port, served by pager_loop in a thread of its own; made once. */
static mach_port_t pager_port(void) {
  static mach_port_t mo = MACH_PORT_NULL;
  if (mo != MACH_PORT_NULL)
    return mo;
  mach_port_t self = mach_task_self(), port;
  if (vm_allocate(self, &supply_buf, kSupplyPages * PAGE, TRUE) != KERN_SUCCESS ||
      mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &port) != KERN_SUCCESS ||
      mach_port_insert_right(self, port, port, MACH_MSG_TYPE_MAKE_SEND) != KERN_SUCCESS) {
    printf("# pager: set-up failed\n");
    return MACH_PORT_NULL;
  }
  for (unsigned i = 0; i < kSupplyPages * PAGE / 4; i++) ((uint32_t *)supply_buf)[i] = 0xfeedbeef;
  if (!start_thread(pager_loop, (long)port)) {
    printf("# pager: no thread\n");
    return MACH_PORT_NULL;
  }
  return mo = port;
}

/* One line: 2048 pages mapped and read once each, the pager supplying at most cap pages a
   request; map_name, if any, times the vm_map. */
static void pager_faults(const char *fault_name, const char *map_name, unsigned cap) {
  mach_port_t self = mach_task_self(), mo = pager_port();
  if (mo == MACH_PORT_NULL)
    return;
  supply_cap = cap;
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
  if (map_name)
    report(map_name, map_cycles, 1);
  report(fault_name, fault_cycles, kPagerPages);
  printf("# %s: %d data requests for %d pages\n", fault_name, reqs, kPagerPages);
  supply_cap = kSupplyPages;
}

void bench_pager(void) {
  pager_faults("external_pager_fault_read_per_page", "vm_map_memory_object_8MiB", kSupplyPages);
  pager_faults("external_pager_fault_one_page_per_request", NULL, 1);
}

/* vm_map of 8 MiB of the pager's object, then vm_deallocate of it, untouched; kMapLoops
   pairs a pass. Warm: another mapping keeps the object (and the pager's knowledge of it)
   alive, so no message is sent. Cold: that mapping is the only one, so each vm_map makes
   the object (memory_object_init) and each vm_deallocate ends it (memory_object_terminate). */
enum { kMapLoops = 1000, kColdLoops = 100 };

static vm_address_t map_object(mach_port_t mo) {
  vm_address_t a = 0;
  kern_return_t kr = vm_map(mach_task_self(), &a, kPagerPages * PAGE, 0, TRUE, mo, 0, FALSE,
                            VM_PROT_READ | VM_PROT_WRITE, VM_PROT_READ | VM_PROT_WRITE,
                            VM_INHERIT_NONE);
  if (kr != KERN_SUCCESS) {
    printf("# vm_map of a memory object: %#x\n", kr);
    return 0;
  }
  return a;
}

void bench_vm_map(void) {
  mach_port_t self = mach_task_self(), mo = pager_port();
  if (mo == MACH_PORT_NULL)
    return;
  uint64_t map_c[kMaxReps], dealloc_c[kMaxReps], pair_c[kMaxReps];
  vm_address_t hold = map_object(mo);
  if (!hold)
    return;
  // Make sure the object is ready before the clock starts: read one page.
  (void)*(volatile uint32_t *)hold;
  int init0 = inits;
  for (int r = -1; r < reps; r++) {
    uint64_t m = 0, d = 0;
    for (int i = 0; i < kMapLoops; i++) {
      uint64_t t0 = rdtsc();
      vm_address_t a = map_object(mo);
      uint64_t t1 = rdtsc();
      if (!a)
        return;
      vm_deallocate(self, a, kPagerPages * PAGE);
      uint64_t t2 = rdtsc();
      m += t1 - t0;
      d += t2 - t1;
    }
    if (r < 0)
      continue;
    map_c[r] = m;
    dealloc_c[r] = d;
    pair_c[r] = m + d;
  }
  report("vm_map_memory_object_warm", map_c, kMapLoops);
  report("vm_deallocate_memory_object_warm", dealloc_c, kMapLoops);
  report("vm_map_deallocate_memory_object_warm", pair_c, kMapLoops);
  printf("# vm_map_memory_object_warm: memory_object_init %d times for %d maps\n", inits - init0,
         kMapLoops * (reps + 1));
  vm_deallocate(self, hold, kPagerPages * PAGE);
  msleep(100);  // let the pager hear of the termination

  int term0 = terminates;
  init0 = inits;
  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kColdLoops; i++) {
      vm_address_t a = map_object(mo);
      if (!a)
        return;
      vm_deallocate(self, a, kPagerPages * PAGE);
    }
    uint64_t t1 = rdtsc();
    if (r >= 0)
      pair_c[r] = t1 - t0;
  }
  report("vm_map_deallocate_memory_object_cold", pair_c, kColdLoops);
  msleep(200);
  printf("# vm_map_deallocate_memory_object_cold: init %d, terminate %d for %d maps\n",
         inits - init0, terminates - term0, kColdLoops * (reps + 1));
}
