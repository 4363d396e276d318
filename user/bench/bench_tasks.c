/* The benchmarks with more than one task or with the VM system: cross-task RPCs, zero-fill
   and copy-on-write faults, VM calls on 16 MiB, fork-like task creation. See bench.c for
   the method; child tasks are made as described there. */
#include <mach.h>
#include <mach/notify.h>
#include <mach/thread_status.h>
#include <mach/vm_inherit.h>
#include <mach/vm_statistics.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

enum {
  kChildStack = 64 * 1024,
  kVmPages = 4096,     // 16 MiB, as the peer
  kOolLoops = 200,     // 1 MiB out-of-line RPCs per pass (20 of warm-up)
  kOolWarmup = 20,
  kChildPortName = 0x777,  // the name of the server's receive right in the child (as the peer)
};
static const vm_size_t kVmSize = 16 * MiB;

/* The VM_INHERIT_SHARE page through which children report. */
struct shared_page {
  volatile int done, errors;
  volatile uint64_t cycles;   // child_cow_writer's time
  volatile vm_address_t region;
  volatile vm_size_t size;
  volatile kern_return_t kr;  // child_exit: what task_terminate returned, if it did
  volatile unsigned long sink;
};
static struct shared_page *shm;
static vm_address_t child_stack;  // kChildStack bytes, VM_INHERIT_COPY: every child's stack

static int child_setup(void) {
  if (shm)
    return 1;
  mach_port_t self = mach_task_self();
  vm_address_t s = 0;
  kern_return_t kr = vm_allocate(self, &s, PAGE, TRUE);
  if (kr == KERN_SUCCESS)
    kr = vm_inherit(self, s, PAGE, VM_INHERIT_SHARE);
  if (kr == KERN_SUCCESS)
    kr = vm_allocate(self, &child_stack, kChildStack, TRUE);
  if (kr != KERN_SUCCESS) {
    printf("# child tasks: cannot make the shared page and the stack: %#x\n", kr);
    return 0;
  }
  shm = (struct shared_page *)s;
  return 1;
}

/* First code of a child's thread that makes MIG calls: the names cached at start-up are the
   parent's. The MIG runtime's table of reply ports is a copy of the parent's too: forget
   what this thread might match there. */
static void child_init(void) {
  mach_task_self_ = (mach_task_self)();
  mig_dealloc_reply_port(mig_get_reply_port());
}

/* Blocks for good (the parent terminates the task): a receive on a port nobody sends to. */
static void __attribute__((noreturn)) child_block(void) {
  mach_port_t port = mach_reply_port();
  mach_msg_header_t h;
  for (;;)
    mach_msg_trap(&h, MACH_RCV_MSG, 0, sizeof h, port, 0, MACH_PORT_NULL);
}

/* Starts fn(arg) in a new thread of task on child_stack (an address of that task):
   thread_create, thread_set_state (i386_REGS_SEGS_STATE), thread_resume. */
static thread_t start_thread_in(task_t task, void (*fn)(long), long arg) {
  thread_t thread = MACH_PORT_NULL;
  kern_return_t kr = thread_create(task, &thread);
  struct i386_thread_state st;
  mach_msg_type_number_t count = i386_THREAD_STATE_COUNT;
  if (kr == KERN_SUCCESS)
    kr = thread_get_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st, &count);
  if (kr == KERN_SUCCESS) {
    st.rip = (uint64_t)(uintptr_t)fn;
    st.ursp = child_stack + kChildStack - 8;  // as after a call: %rsp + 8 is 16-aligned
    st.rbp = 0;
    st.rdi = (uint64_t)arg;
    kr = thread_set_state(thread, i386_REGS_SEGS_STATE, (thread_state_t)&st,
                          i386_THREAD_STATE_COUNT);
  }
  if (kr == KERN_SUCCESS)
    kr = thread_resume(thread);
  if (kr != KERN_SUCCESS) {
    printf("# start_thread_in: %#x\n", kr);
    return MACH_PORT_NULL;
  }
  return thread;
}

/* Writes one byte (val) into each page; stamp also puts the page number in its second word. */
static void touch(vm_address_t a, vm_size_t size, char val) {
  for (vm_size_t off = 0; off < size; off += PAGE)
    *(volatile char *)(a + off) = val;
}

static void stamp(vm_address_t a, vm_size_t size, char val) {
  for (vm_size_t off = 0; off < size; off += PAGE) {
    *(volatile char *)(a + off) = val;
    *(volatile unsigned long *)(a + off + 8) = off / PAGE;
  }
}

/* Whether each page of [a, a + size) holds byte val and its stamp. */
static int stamped(vm_address_t a, vm_size_t size, char val) {
  for (vm_size_t off = 0; off < size; off += PAGE)
    if (*(volatile char *)(a + off) != val || *(volatile unsigned long *)(a + off + 8) != off / PAGE)
      return 0;
  return 1;
}

static vm_address_t allocate(vm_size_t size) {
  vm_address_t a = 0;
  kern_return_t kr = vm_allocate(mach_task_self(), &a, size, TRUE);
  if (kr != KERN_SUCCESS) {
    printf("# vm_allocate(%lu): %#x\n", (unsigned long)size, kr);
    return 0;
  }
  return a;
}

static vm_statistics_data_t vm_stats(void) {
  vm_statistics_data_t s;
  memset(&s, 0, sizeof s);
  vm_statistics(mach_task_self(), &s);
  return s;
}

/* "# name: vm_statistics over one pass: ..." */
static void stats_line(const char *name, const vm_statistics_data_t *a,
                       const vm_statistics_data_t *b) {
  int freed = b->free_count - a->free_count;
  printf("# %s: over one pass faults %d zero_fill %d cow_faults %d free_pages %s%d\n", name,
         b->faults - a->faults, b->zero_fill_count - a->zero_fill_count,
         b->cow_faults - a->cow_faults, freed < 0 ? "-" : "+", freed < 0 ? -freed : freed);
}

/* One value (cycles for one operation) as a result line. */
static void print_one(const char *name, uint64_t cycles) {
  uint64_t v = tenths(cycles, 1);
  printf("%s %lu.%lu %s\n", name, v / 10, v % 10, tsc_khz ? "ns" : "cyc");
}

/* Writes each page of [a, a + size) and prints the median and 99th percentile of the
   per-page times (as the peer's *_median_page and *_p99_page lines). */
static uint32_t page_cycles[kVmPages];
static void touch_timed(const char *name, vm_address_t a, vm_size_t size) {
  int n = (int)(size / PAGE);
  if (n > kVmPages)
    n = kVmPages;
  for (int i = 0; i < n; i++) {
    uint64_t t0 = rdtsc();
    *(volatile char *)(a + (vm_size_t)i * PAGE) = 3;
    page_cycles[i] = (uint32_t)(rdtsc() - t0);
  }
  uint64_t first = page_cycles[0];
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && page_cycles[j] < page_cycles[j - 1]; j--) {
      uint32_t t = page_cycles[j];
      page_cycles[j] = page_cycles[j - 1];
      page_cycles[j - 1] = t;
    }
  char buf[96];
  snprintf(buf, sizeof buf, "%s_median_page", name);
  print_one(buf, page_cycles[n / 2]);
  snprintf(buf, sizeof buf, "%s_p99_page", name);
  print_one(buf, page_cycles[n * 99 / 100]);
  printf("# %s: first page %lu cycles, max %u cycles\n", name, first, page_cycles[n - 1]);
}

/* ---- null RPC and a 1 MiB out-of-line RPC between two tasks (group xtask) ----
   As the peer: the port's receive right moves into a child made with task_create(inherit),
   under the name 0x777, and a thread of the child runs the echo loop of the same-task RPC.
   The client in the parent is the same as there.
   ipc_ool_1MiB_rpc_cross_task: the request carries 1 MiB out-of-line (a copy: not
   deallocated; the client's buffer is resident), the server vm_deallocates it and answers
   header-only. _read: the server also reads one word of each page first (so the data reach
   it, as the bytes a pipe reader gets). No peer measures this (the Linux peer has no pipe
   bandwidth benchmark; GNU Mach's none with out-of-line memory). */

enum { kOolId = 4244, kOolReadId = 4245 };
struct ool_msg {
  mach_msg_header_t h;
  mach_msg_type_t type;
  vm_offset_t address;
};

static void child_server(long name) {
  mach_port_t port = (mach_port_t)name;
  child_init();
  union {
    struct rpc_msg r;
    struct ool_msg o;
  } m;
  mach_msg_return_t mr =
      mach_msg_trap(&m.r.h, MACH_RCV_MSG, 0, sizeof m, port, 0, MACH_PORT_NULL);
  for (;;) {
    if (mr != MACH_MSG_SUCCESS) {
      shm->errors++;
      mr = mach_msg_trap(&m.r.h, MACH_RCV_MSG, 0, sizeof m, port, 0, MACH_PORT_NULL);
      continue;
    }
    mach_msg_id_t id = m.r.h.msgh_id;
    if (id == kOolId || id == kOolReadId) {
      if (!(m.o.h.msgh_bits & MACH_MSGH_BITS_COMPLEX) || m.o.type.msgt_inline) {
        shm->errors++;
      } else {
        vm_size_t size = (vm_size_t)m.o.type.msgt_number * m.o.type.msgt_size / 8;
        if (id == kOolReadId) {
          unsigned long sum = 0;
          for (vm_size_t off = 0; off < size; off += PAGE)
            sum += *(volatile unsigned long *)(m.o.address + off + 8);
          shm->sink = sum;
        }
        if (vm_deallocate(mach_task_self(), m.o.address, size) != KERN_SUCCESS)
          shm->errors++;
      }
    }
    m.r.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    m.r.h.msgh_local_port = MACH_PORT_NULL;
    m.r.h.msgh_size = sizeof(mach_msg_header_t);
    mr = mach_msg_trap(&m.r.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof(mach_msg_header_t),
                       sizeof m, port, 0, MACH_PORT_NULL);
  }
}

static mach_msg_return_t ool_call(mach_port_t dest, mach_port_t reply, mach_msg_id_t id,
                                  vm_address_t data, vm_size_t size) {
  union {
    struct rpc_msg r;
    struct ool_msg o;
  } m;
  memset(&m, 0, sizeof m);
  m.o.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) |
                    MACH_MSGH_BITS_COMPLEX;
  m.o.h.msgh_size = sizeof m.o;
  m.o.h.msgh_remote_port = dest;
  m.o.h.msgh_local_port = reply;
  m.o.h.msgh_id = id;
  m.o.type.msgt_name = MACH_MSG_TYPE_BYTE;
  m.o.type.msgt_size = 8;
  m.o.type.msgt_number = (mach_msg_type_number_t)size;
  m.o.type.msgt_inline = FALSE;
  m.o.type.msgt_deallocate = FALSE;
  m.o.address = data;
  mach_msg_return_t mr = mach_msg_trap(&m.o.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof m.o,
                                       sizeof m, reply, 0, MACH_PORT_NULL);
  if (mr == MACH_MSG_SUCCESS && m.r.h.msgh_size != sizeof(mach_msg_header_t))
    return MACH_RCV_INVALID_DATA;
  return mr;
}

static void bench_ool(const char *name, mach_port_t dest, mach_port_t reply, mach_msg_id_t id,
                      vm_address_t data) {
  uint64_t c[kMaxReps];
  vm_statistics_data_t s0, s1;
  mach_msg_return_t mr = MACH_MSG_SUCCESS;
  for (int r = -1; r < reps && mr == MACH_MSG_SUCCESS; r++) {
    int n = r < 0 ? kOolWarmup : kOolLoops;
    if (r == 0)
      s0 = vm_stats();
    uint64_t t0 = rdtsc();
    for (int i = 0; i < n && mr == MACH_MSG_SUCCESS; i++)
      mr = ool_call(dest, reply, id, data, MiB);
    if (r >= 0)
      c[r] = rdtsc() - t0;
    if (r == 0)
      s1 = vm_stats();
  }
  if (mr != MACH_MSG_SUCCESS) {
    printf("# %s: an RPC failed with %#x\n", name, mr);
    return;
  }
  report(name, c, kOolLoops);
  stats_line(name, &s0, &s1);
}

void bench_cross_task(int with_ool) {
  const char *name = "ipc_null_rpc_rtt_cross_task";
  if (!child_setup())
    return;
  mach_port_t self = mach_task_self(), port;
  task_t child = MACH_PORT_NULL;
  kern_return_t kr = mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &port);
  if (kr == KERN_SUCCESS)
    kr = mach_port_insert_right(self, port, port, MACH_MSG_TYPE_MAKE_SEND);
  if (kr == KERN_SUCCESS)
    kr = task_create(self, TRUE, &child);
  if (kr == KERN_SUCCESS)
    kr = mach_port_insert_right(child, kChildPortName, port, MACH_MSG_TYPE_MOVE_RECEIVE);
  if (kr != KERN_SUCCESS) {
    printf("# %s: cannot make the child and its port: %#x\n", name, kr);
    return;
  }
  shm->errors = 0;
  thread_t thread = start_thread_in(child, child_server, kChildPortName);
  mach_port_t reply = mach_reply_port();
  vm_address_t data = allocate(MiB);
  if (thread == MACH_PORT_NULL || !MACH_PORT_VALID(reply) || data == 0) {
    task_terminate(child);
    return;
  }
  uint64_t c[kMaxReps];
  mach_msg_return_t mr = MACH_MSG_SUCCESS;
  for (int r = -1; r < reps && mr == MACH_MSG_SUCCESS; r++) {
    int n = r < 0 ? kWarmup : kRpcLoops;
    uint64_t t0 = rdtsc();
    for (int i = 0; i < n && mr == MACH_MSG_SUCCESS; i++)
      mr = rpc_call(port, reply, kRpcId);
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  if (mr == MACH_MSG_SUCCESS)
    report(name, c, kRpcLoops);
  else
    printf("# %s: an RPC failed with %#x\n", name, mr);

  stamp(data, MiB, 1);
  if (mr == MACH_MSG_SUCCESS && with_ool) {
    bench_ool("ipc_ool_1MiB_rpc_cross_task", port, reply, kOolId, data);
    bench_ool("ipc_ool_1MiB_rpc_cross_task_read", port, reply, kOolReadId, data);
    if (shm->sink != (unsigned long)(MiB / PAGE) * (MiB / PAGE - 1) / 2)
      printf("# ipc_ool_1MiB_rpc_cross_task_read: the server read %lu, not the stamps\n",
             shm->sink);
  }
  if (shm->errors)
    printf("# %s: the child's server saw %d errors\n", name, shm->errors);
  kr = task_terminate(child);
  if (kr != KERN_SUCCESS)
    printf("# %s: task_terminate %#x\n", name, kr);
  mach_port_destroy(self, child);
  mach_port_destroy(self, thread);
  mach_port_deallocate(self, port);
  mach_port_mod_refs(self, reply, MACH_PORT_RIGHT_RECEIVE, -1);
  vm_deallocate(self, data, MiB);
}

/* How the kernel's way of zeroing and copying a page fares under the emulator: Mica's
   memset and memcpy are rep stosb and rep movsb. Measured here in user space on a resident
   page, 2000 times each, as "#" lines (not results): rep stosb, rep stosq and a loop of
   8-byte stores for 4 KiB of zeros; rep movsb, rep movsq and a loop of 8-byte moves for a
   4 KiB copy. */
static char page_a[4096] __attribute__((aligned(4096))), page_b[4096] __attribute__((aligned(4096)));

static void page_ops(void) {
  enum { kN = 2000 };
  uint64_t t[6];
  for (int k = 0; k < 6; k++) {
    uint64_t best = ~0ull;
    for (int pass = 0; pass < 3; pass++) {
      uint64_t t0 = rdtsc();
      for (int i = 0; i < kN; i++) {
        void *d = page_a, *src = page_b;
        size_t n;
        switch (k) {
          case 0:
            n = 4096;
            __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0) : "memory");
            break;
          case 1:
            n = 512;
            __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(0) : "memory");
            break;
          case 2:
            for (int w = 0; w < 512; w++)
              ((volatile uint64_t *)page_a)[w] = 0;
            break;
          case 3:
            n = 4096;
            __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
            break;
          case 4:
            n = 512;
            __asm__ volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
            break;
          default:
            for (int w = 0; w < 512; w++)
              ((volatile uint64_t *)page_a)[w] = ((volatile uint64_t *)page_b)[w];
            break;
        }
      }
      uint64_t c = rdtsc() - t0;
      if (c < best)
        best = c;
    }
    t[k] = tenths(best, kN);
  }
  printf("# 4 KiB zeroing: rep stosb %lu.%lu, rep stosq %lu.%lu, 8-byte stores %lu.%lu %s\n",
         t[0] / 10, t[0] % 10, t[1] / 10, t[1] % 10, t[2] / 10, t[2] % 10, tsc_khz ? "ns" : "cyc");
  printf("# 4 KiB copy: rep movsb %lu.%lu, rep movsq %lu.%lu, 8-byte moves %lu.%lu %s\n",
         t[3] / 10, t[3] % 10, t[4] / 10, t[4] % 10, t[5] / 10, t[5] % 10, tsc_khz ? "ns" : "cyc");
}

/* ---- zero-fill faults, vm_allocate and vm_deallocate of 16 MiB (group vm) ----
   As the peer: each pass allocates 16 MiB anywhere, writes one byte of each page, and
   deallocates it; the three steps are timed apart. Then one more region gives the per-page
   distribution. */

void bench_vm(void) {
  uint64_t ca[kMaxReps], cf[kMaxReps], cd[kMaxReps];
  mach_port_t self = mach_task_self();
  vm_statistics_data_t s0, s1;
  for (int r = -1; r < reps; r++) {
    vm_address_t a = 0;
    uint64_t t0 = rdtsc();
    kern_return_t kr = vm_allocate(self, &a, kVmSize, TRUE);
    uint64_t t1 = rdtsc();
    if (kr != KERN_SUCCESS) {
      printf("# vm_allocate_16MiB: %#x\n", kr);
      return;
    }
    if (r == 0)
      s0 = vm_stats();
    uint64_t t2 = rdtsc();
    touch(a, kVmSize, 1);
    uint64_t t3 = rdtsc();
    if (r == 0)
      s1 = vm_stats();
    uint64_t t4 = rdtsc();
    kr = vm_deallocate(self, a, kVmSize);
    uint64_t t5 = rdtsc();
    if (kr != KERN_SUCCESS)
      printf("# vm_deallocate_16MiB_touched: %#x\n", kr);
    if (r >= 0) {
      ca[r] = t1 - t0;
      cf[r] = t3 - t2;
      cd[r] = t5 - t4;
    }
  }
  page_ops();
  report("vm_allocate_16MiB", ca, 1);
  report("zero_fill_fault_per_page_16MiB", cf, kVmPages);
  stats_line("zero_fill_fault_per_page_16MiB", &s0, &s1);
  report("vm_deallocate_16MiB_touched", cd, 1);
  vm_address_t a = allocate(kVmSize);
  if (a) {
    touch_timed("zero_fill_fault", a, kVmSize);
    vm_deallocate(self, a, kVmSize);
  }
}

/* ---- copy-on-write (group cow) ----
   vm_copy, as the peer: 16 MiB resident (every page written) copied with vm_copy onto a
   second 16 MiB region; then every page of the destination is written (a COW fault each),
   then every page of the source (GNU Mach x86_64's copy is symmetric: those fault too). The
   destination must still hold the source's bytes, and the source's later writes must not
   reach it. The same fault after a 64 KiB vm_copy shows whether the cost grows with the
   object.
   task_create(inherit) of a space with 16 MiB resident, as the peer: a thread of the child
   writes every page of the region (COW faults), timed by the child; then the parent
   terminates the child. */

static int cow_pass(vm_size_t size, uint64_t *copy, uint64_t *dst, uint64_t *src,
                    vm_statistics_data_t *st) {
  mach_port_t self = mach_task_self();
  vm_address_t s = allocate(size), d = allocate(size);
  if (!s || !d)
    return 0;
  stamp(s, size, 1);
  uint64_t t0 = rdtsc();
  kern_return_t kr = vm_copy(self, s, size, d);
  uint64_t t1 = rdtsc();
  if (st)
    st[0] = vm_stats();
  uint64_t t2 = rdtsc();
  touch(d, size, 1);
  uint64_t t3 = rdtsc();
  if (st)
    st[1] = vm_stats();
  uint64_t t4 = rdtsc();
  touch(s, size, 2);
  uint64_t t5 = rdtsc();
  if (st)
    st[2] = vm_stats();
  int ok = kr == KERN_SUCCESS && stamped(d, size, 1) && stamped(s, size, 2);
  if (!ok)
    printf("# vm_copy of %lu bytes: kr %#x, or the contents are wrong\n", (unsigned long)size,
           kr);
  vm_deallocate(self, s, size);
  vm_deallocate(self, d, size);
  *copy = t1 - t0;
  *dst = t3 - t2;
  if (src)
    *src = t5 - t4;
  return ok;
}

static void child_cow_writer(long arg) {
  (void)arg;
  uint64_t t0 = rdtsc();
  touch(shm->region, shm->size, 2);
  shm->cycles = rdtsc() - t0;
  __atomic_store_n(&shm->done, 1, __ATOMIC_RELEASE);
  child_block();
}

void bench_cow(void) {
  uint64_t cc[kMaxReps], cd[kMaxReps], cs[kMaxReps], unused;
  vm_statistics_data_t st[3];
  for (int r = -1; r < reps; r++) {
    uint64_t a, b, c;
    if (!cow_pass(kVmSize, &a, &b, &c, r == 0 ? st : NULL))
      return;
    if (r >= 0) {
      cc[r] = a;
      cd[r] = b;
      cs[r] = c;
    }
  }
  report("vm_copy_16MiB", cc, 1);
  report("cow_fault_write_dst_after_vm_copy_per_page", cd, kVmPages);
  stats_line("cow_fault_write_dst_after_vm_copy_per_page", &st[0], &st[1]);
  report("write_src_after_vm_copy_per_page", cs, kVmPages);
  stats_line("write_src_after_vm_copy_per_page", &st[1], &st[2]);
  for (int r = -1; r < reps; r++) {
    uint64_t b;
    if (!cow_pass(16 * PAGE, &unused, &b, NULL, NULL))
      return;
    if (r >= 0)
      cd[r] = b;
  }
  report("cow_fault_dst_after_vm_copy_64KiB_per_page", cd, 16);
  // The distribution over the 16 MiB destination.
  mach_port_t self = mach_task_self();
  vm_address_t s = allocate(kVmSize), d = allocate(kVmSize);
  if (s && d) {
    touch(s, kVmSize, 1);
    if (vm_copy(self, s, kVmSize, d) == KERN_SUCCESS)
      touch_timed("cow_fault_dst_after_vm_copy", d, kVmSize);
  }
  if (s)
    vm_deallocate(self, s, kVmSize);
  if (d)
    vm_deallocate(self, d, kVmSize);

  // task_create(inherit) with 16 MiB resident; the child writes it all; task_terminate.
  // Mica's task_terminate returns before the child's thread has gone (the task, and its
  // memory, go with its last thread), whereas GNU Mach's waits for the threads and drops the
  // task's memory before it answers. So the clock runs until the dead-name notification of
  // the child's task port (requested before, outside the clock) arrives; the "#" lines give
  // the call alone and the free pages back by then.
  if (!child_setup())
    return;
  mach_port_t notify;
  if (mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &notify) != KERN_SUCCESS)
    return;
  uint64_t ct[kMaxReps], cw[kMaxReps], ck[kMaxReps], ccall[kMaxReps];
  vm_statistics_data_t s0, s1, s2;
  for (int r = -1; r < reps; r++) {
    vm_address_t region = allocate(kVmSize);
    if (!region)
      return;
    stamp(region, kVmSize, 1);
    shm->done = 0;
    shm->region = region;
    shm->size = kVmSize;
    if (r == 0)
      s0 = vm_stats();
    task_t child = MACH_PORT_NULL;
    uint64_t t0 = rdtsc();
    kern_return_t kr = task_create(self, TRUE, &child);
    uint64_t t1 = rdtsc();
    if (kr != KERN_SUCCESS) {
      printf("# task_create_inherit_16MiB_resident: %#x\n", kr);
      return;
    }
    mach_port_t prev = MACH_PORT_NULL;
    kr = mach_port_request_notification(self, child, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                        MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev);
    thread_t thread = kr == KERN_SUCCESS ? start_thread_in(child, child_cow_writer, 0)
                                         : MACH_PORT_NULL;
    if (thread == MACH_PORT_NULL) {
      printf("# task_create_inherit_16MiB_resident: dead-name request %#x\n", kr);
      task_terminate(child);
      return;
    }
    while (!__atomic_load_n(&shm->done, __ATOMIC_ACQUIRE))
      swtch();
    if (r == 0)
      s1 = vm_stats();
    union {
      mach_msg_header_t h;
      char buf[256];
    } m;
    uint64_t t2 = rdtsc();
    kr = task_terminate(child);
    uint64_t t3 = rdtsc();
    mach_msg_return_t mr = mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m,
                                    notify, 10000, MACH_PORT_NULL);
    uint64_t t4 = rdtsc();
    if (r == 0)
      s2 = vm_stats();
    if (kr != KERN_SUCCESS || mr != MACH_MSG_SUCCESS)
      printf("# task_terminate_after_cow: %#x, dead-name notification %#x\n", kr, mr);
    mach_port_destroy(self, child);
    mach_port_destroy(self, thread);
    if (!stamped(region, kVmSize, 1))
      printf("# task_create_inherit_16MiB_resident: the child's writes reached the parent\n");
    vm_deallocate(self, region, kVmSize);
    if (r >= 0) {
      ct[r] = t1 - t0;
      cw[r] = shm->cycles;
      ck[r] = t4 - t2;
      ccall[r] = t3 - t2;
    }
  }
  mach_port_mod_refs(self, notify, MACH_PORT_RIGHT_RECEIVE, -1);
  report("task_create_inherit_16MiB_resident", ct, 1);
  report("child_cow_write_fault_per_page", cw, kVmPages);
  stats_line("child_cow_write_fault_per_page (with task_create and the thread's start)", &s0,
             &s1);
  report("task_terminate_after_cow", ck, 1);
  stats_line("task_terminate_after_cow (until the dead-name notification)", &s1, &s2);
  sort(ccall, reps);
  uint64_t v = tenths(ccall[reps / 2], 1);
  printf("# task_terminate_after_cow: the task_terminate call alone %lu.%lu %s\n", v / 10,
         v % 10, tsc_khz ? "ns" : "cyc");
}

/* ---- fork, exit, wait (group fork) ----
   The Mach equivalent of the Linux peer's fork_exit_wait_{base,64m} (fork; the child
   _exit()s; the parent waitpid()s): task_create(inherit) of the bench task (with 64 MiB more
   resident, every page written, for _64MiB), a dead-name request on the child's task port
   (what tells the parent the child is gone), thread_create + thread_set_state +
   thread_resume; the child's thread runs, says so in the shared page and blocks; the parent
   task_terminates it and receives the dead-name notification, then destroys the dead names.
   The child does not task_terminate itself: on Mica a task that does leaks its memory (about
   12 pages a child here; see the "#" line of task_self_terminate_base), so its figure would
   leave the freeing out. That variant runs too, as a Mica-only line.
   Between passes the parent does not write its 64 MiB (nor does the Linux peer's): after the
   first fork its mappings stay read-only and its map entry copy-on-write, so later
   task_creates have no page to write-protect. _64MiB_rewritten (Mica-only) writes every page
   again before each pass, outside the clock, so each task_create write-protects them all. */

static void child_exit(long self_terminate) {
  if (self_terminate) {
    child_init();
    shm->kr = task_terminate(mach_task_self());  // returns only if it failed
  }
  __atomic_store_n(&shm->done, 1, __ATOMIC_RELEASE);
  child_block();
}

void bench_fork(const char *name, unsigned long extra, int self_terminate, int rewrite) {
  if (!child_setup())
    return;
  mach_port_t self = mach_task_self(), notify;
  vm_address_t region = 0;
  if (extra) {
    region = allocate(extra);
    if (!region)
      return;
    touch(region, extra, 1);
  }
  if (mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &notify) != KERN_SUCCESS)
    return;
  union {
    mach_msg_header_t h;
    char buf[256];
  } m;
  vm_statistics_data_t before = vm_stats(), s0, s1;
  uint64_t c[kMaxReps];
  int failed = 0;
  for (int r = -1; r < reps && !failed; r++) {
    shm->done = 0;
    shm->kr = KERN_SUCCESS;
    if (rewrite)
      touch(region, extra, (char)r);
    if (r == 0)
      s0 = vm_stats();
    task_t child = MACH_PORT_NULL;
    thread_t thread = MACH_PORT_NULL;
    mach_port_t prev = MACH_PORT_NULL;
    memset(&m, 0, sizeof m);
    uint64_t t0 = rdtsc();
    kern_return_t kr = task_create(self, TRUE, &child);
    if (kr == KERN_SUCCESS)
      kr = mach_port_request_notification(self, child, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                          MACH_MSG_TYPE_MAKE_SEND_ONCE, &prev);
    if (kr == KERN_SUCCESS) {
      thread = start_thread_in(child, child_exit, self_terminate);
      kr = thread == MACH_PORT_NULL ? KERN_FAILURE : KERN_SUCCESS;
    }
    if (kr == KERN_SUCCESS && !self_terminate) {
      while (!__atomic_load_n(&shm->done, __ATOMIC_ACQUIRE))
        swtch();
      kr = task_terminate(child);
    }
    if (kr == KERN_SUCCESS)
      kr = mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, notify, 10000,
                    MACH_PORT_NULL);
    if (kr == KERN_SUCCESS) {
      mach_port_destroy(self, child);
      mach_port_destroy(self, thread);
    }
    uint64_t t1 = rdtsc();
    if (r == 0)
      s1 = vm_stats();
    if (kr != KERN_SUCCESS || m.h.msgh_id != MACH_NOTIFY_DEAD_NAME) {
      printf("# %s: %#x (msgh_id %d; the child %s, its task_terminate %#x)\n", name, kr,
             m.h.msgh_id, shm->done ? "ran" : "did not run", shm->kr);
      if (MACH_PORT_VALID(child)) {
        task_terminate(child);
        mach_port_destroy(self, child);
      }
      failed = 1;
    } else if (r >= 0) {
      c[r] = t1 - t0;
    }
  }
  if (!failed) {
    report(name, c, 1);
    stats_line(name, &s0, &s1);
    // Whether the children's pages all came back: the free count after every pass and a
    // pause of 100 ms, against before the first.
    mach_msg(&m.h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof m, notify, 100, MACH_PORT_NULL);
    vm_statistics_data_t after = vm_stats();
    printf("# %s: free pages after all %d passes and 100 ms, against before: %s%d\n", name,
           reps + 1, after.free_count < before.free_count ? "-" : "+",
           after.free_count < before.free_count ? before.free_count - after.free_count
                                                : after.free_count - before.free_count);
  }
  mach_port_mod_refs(self, notify, MACH_PORT_RIGHT_RECEIVE, -1);
  if (region)
    vm_deallocate(self, region, extra);
}
