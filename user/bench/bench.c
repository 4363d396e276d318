/* bench: Mica's micro-benchmarks, run as a boot module by tools/bench.sh (./mica bench).
   Prints "name value unit" lines between "bench-start" and "bench-done", then exits.

   Arguments (after the boot script's words): tsc_mhz=F sets the TSC rate used to turn cycles
   into ns (Mica has no host_get_time yet; under QEMU TCG the guest TSC is the host's, so the
   harness passes the host's rate). reps=N sets the repetitions per benchmark (default 5).
   only=GROUP[,GROUP...] runs those groups alone (to profile one): traps, ports, mig, rpc,
   pingpong, xtask, vm, cow, pager, vmmap, disk, fork, and paging, which runs only when named
   (paging_mib=N MiB, default 128; see bench_disk.c); only=xrpc runs the null two-task RPC
   alone. Without tsc_mhz the values are in TSC
   cycles (unit "cyc"). The first two numeric arguments are the host and device master ports
   (the boot script's ${host-port} ${device-port}); disk needs the device port.
   gnumach=1 is for running pager and vmmap on GNU Mach (other groups use Mica-only traps).
   It and reboot=1 end the boot with host_reboot, as a module on GNU Mach must; Mica powers
   off when the module exits only if no other task (such as the default pager) is left.

   Each benchmark runs one warm-up pass, then `reps` timed passes of a fixed loop; the line
   gives the median pass, per operation. A "#" line after it gives min and max. Loop sizes
   follow the GNU Mach peer (../shared/peers/gnumach-qemu/src/bench.c), and so do the names
   of the lines both measure: 200k for traps, 2000 for mach_reply_port, 20k (after 1k
   warm-up) for switches, RPCs and the MIG call to the kernel, 16 MiB regions (4096 pages) for
   the VM lines.

   Child tasks (xtask, cow, fork) are made as a fork would make them, as GNU Mach programs
   do: task_create(inherit_memory = TRUE), then thread_create in the child, its registers set
   with thread_set_state (i386_REGS_SEGS_STATE) and thread_resume. The child's thread runs code
   of the inherited text, on a stack the parent allocated (VM_INHERIT_COPY) before
   task_create, and reports through a VM_INHERIT_SHARE page. The VM lines print "#" lines
   with the vm_statistics counters over one pass (faults, zero fills, COW copies, free pages),
   to show what each fault path did. */
#include <mach.h>
#include <mach/notify.h>
#include <mach/thread_status.h>
#include <mach/vm_inherit.h>
#include <mach/vm_statistics.h>
#include <mica_thread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

uint64_t tsc_khz;  // 0: report cycles
int reps = 5;
static const char *only;  // only=GROUP: run that group alone (see main)

/* only=GROUP[,GROUP...]: is group one of them? */
static int listed(const char *group) {
  size_t n = strlen(group);
  for (const char *p = only; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
    if (strncmp(p, group, n) == 0 && (p[n] == ',' || p[n] == '\0'))
      return 1;
  return 0;
}
static int want(const char *group) { return !only || listed(group); }
static int on_gnumach;  // gnumach=1: no Mica-only trap

/* "2596.146" -> 2596146 (kHz); 0 if malformed. */
static uint64_t parse_mhz(const char *s) {
  uint64_t khz = 0;
  int frac = -1;
  for (; *s; s++) {
    if (*s == '.' && frac < 0) {
      frac = 0;
    } else if (*s >= '0' && *s <= '9') {
      if (frac >= 3)
        continue;
      khz = khz * 10 + (uint64_t)(*s - '0');
      if (frac >= 0)
        frac++;
    } else {
      return 0;
    }
  }
  for (int i = frac < 0 ? 0 : frac; i < 3; i++)
    khz *= 10;
  return khz;
}

/* Cycles per operation in tenths of the reporting unit (ns, or cycles). */
uint64_t tenths(uint64_t cycles, uint64_t n) {
  if (tsc_khz == 0)
    return cycles * 10 / n;
  return cycles * 10000000ull / (n * tsc_khz);
}

void sort(uint64_t *v, int n) {
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      uint64_t t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
}

/* Prints the median of reps passes of n operations each (cycles[] per pass). */
void report(const char *name, uint64_t *cycles, uint64_t n) {
  sort(cycles, reps);
  const char *unit = tsc_khz ? "ns" : "cyc";
  uint64_t med = tenths(cycles[reps / 2], n), lo = tenths(cycles[0], n),
           hi = tenths(cycles[reps - 1], n);
  printf("%s %lu.%lu %s\n", name, med / 10, med % 10, unit);
  printf("# %s min %lu.%lu max %lu.%lu reps %d n %lu cycles/op %lu\n", name, lo / 10, lo % 10,
         hi / 10, hi % 10, reps, n, cycles[reps / 2] / n);
}

/* ---- traps that return at once ---- */

static void bench_traps(void) {
  uint64_t c[kMaxReps];
  // mach_msg_trap with option 0: neither send nor receive, so it returns at once.
  mach_msg_return_t mr = mach_msg_trap(NULL, MACH_MSG_OPTION_NONE, 0, 0, MACH_PORT_NULL, 0,
                                       MACH_PORT_NULL);
  if (mr != MACH_MSG_SUCCESS)
    printf("# mach_msg_trap_null: the trap returns %#x\n", mr);
  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kTrapLoops; i++)
      mach_msg_trap(NULL, MACH_MSG_OPTION_NONE, 0, 0, MACH_PORT_NULL, 0, MACH_PORT_NULL);
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  report("mach_msg_trap_null", c, kTrapLoops);

  // Mica-only: the cheapest trap there is (it reads the CPU number), to tell the trap path
  // from the work of the traps above and below.
  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kTrapLoops; i++)
      mica_cpu_number();
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  report("mica_cpu_number_trap", c, kTrapLoops);

  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    // The trap itself: <mach_init.h> makes mach_task_self() a read of a cached name.
    for (int i = 0; i < kTrapLoops; i++)
      (mach_task_self)();
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  report("mach_task_self_trap", c, kTrapLoops);

  // Nothing else of this task is runnable, and the idle thread never is.
  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kTrapLoops; i++)
      swtch_pri(0);
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  report("swtch_pri_trap_no_other_runnable", c, kTrapLoops);

  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kTrapLoops; i++)
      swtch();
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  report("swtch_trap_no_other_runnable", c, kTrapLoops);
}

/* ---- ports ----
   mach_reply_port_trap: each pass allocates 2000 receive rights through the trap (the
   peer's count; it leaks them). Only the allocations are timed: the rights are destroyed
   after each pass, outside the clock, so every pass starts from the same name space. The
   destruction (mach_port_mod_refs(RECEIVE, -1), a MIG RPC to the kernel) is reported as a
   Mica-only line, mach_port_destroy_receive_right. */

static mach_port_t reply_names[kReplyPorts];

static void bench_ports(void) {
  uint64_t c[kMaxReps], d[kMaxReps];
  mach_port_t self = mach_task_self();
  int failed = 0;
  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kReplyPorts; i++)
      reply_names[i] = mach_reply_port();
    uint64_t t1 = rdtsc();
    for (int i = 0; i < kReplyPorts; i++)
      if (!MACH_PORT_VALID(reply_names[i]) ||
          mach_port_mod_refs(self, reply_names[i], MACH_PORT_RIGHT_RECEIVE, -1) != KERN_SUCCESS)
        failed++;
    uint64_t t2 = rdtsc();
    if (r >= 0) {
      c[r] = t1 - t0;
      d[r] = t2 - t1;
    }
  }
  if (failed)
    printf("# mach_reply_port_trap: %d names invalid or not destroyed\n", failed);
  report("mach_reply_port_trap", c, kReplyPorts);
  report("mach_port_destroy_receive_right", d, kReplyPorts);
}

/* ---- a MIG call to the kernel ----
   mig_rpc_to_kernel_mach_port_type: mach_port_type through the MIG stub on a receive right of
   the task. (The peer asks about a send right, host_priv; the kernel's work is the same
   lookup.) The stub takes the thread's reply port from mig_get_reply_port, which costs a
   mach_thread_self trap per call on Mica's runtime as on the peer's. */

static void bench_mig(void) {
  uint64_t c[kMaxReps];
  mach_port_t self = mach_task_self();
  int failed;
  mach_port_t port;
  kern_return_t kr = mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &port);
  mach_port_type_t type = 0;
  if (kr == KERN_SUCCESS)
    kr = mach_port_type(self, port, &type);
  if (kr != KERN_SUCCESS || !(type & MACH_PORT_TYPE_RECEIVE)) {
    printf("# mig_rpc_to_kernel_mach_port_type: kr %#x type %#x\n", kr, type);
    return;
  }
  failed = 0;
  for (int r = -1; r < reps; r++) {
    int n = r < 0 ? kWarmup : kRpcLoops;
    uint64_t t0 = rdtsc();
    for (int i = 0; i < n; i++)
      if (mach_port_type(self, port, &type) != KERN_SUCCESS)
        failed++;
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  if (failed)
    printf("# mig_rpc_to_kernel_mach_port_type: %d calls failed\n", failed);
  report("mig_rpc_to_kernel_mach_port_type", c, kRpcLoops);

  // Mica-only, to take the RPCs apart: the mach_thread_self trap, which every MIG stub
  // calls (mig_get_reply_port), and one mach_msg trap that sends a header-only message to a
  // port of the caller's and receives it again: the message work of one side of a null RPC,
  // without a switch. The extra send rights mach_thread_self makes are dropped afterwards.
  mach_port_t thread = MACH_PORT_NULL;
  for (int r = -1; r < reps; r++) {
    uint64_t t0 = rdtsc();
    for (int i = 0; i < kTrapLoops; i++)
      thread = mach_thread_self();
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  report("mach_thread_self_trap", c, kTrapLoops);
  mach_port_urefs_t refs;
  if (mach_port_get_refs(self, thread, MACH_PORT_RIGHT_SEND, &refs) == KERN_SUCCESS && refs > 1)
    mach_port_mod_refs(self, thread, MACH_PORT_RIGHT_SEND, -(mach_port_delta_t)(refs - 1));

  kr = mach_port_insert_right(self, port, port, MACH_MSG_TYPE_MAKE_SEND);
  mach_msg_return_t mr = kr;
  for (int r = -1; r < reps && mr == MACH_MSG_SUCCESS; r++) {
    int n = r < 0 ? kWarmup : kRpcLoops;
    uint64_t t0 = rdtsc();
    for (int i = 0; i < n && mr == MACH_MSG_SUCCESS; i++) {
      struct {
        mach_msg_header_t h;
        char pad[128];
      } m;
      m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, 0);
      m.h.msgh_size = sizeof(mach_msg_header_t);
      m.h.msgh_remote_port = port;
      m.h.msgh_local_port = MACH_PORT_NULL;
      m.h.msgh_seqno = 0;
      m.h.msgh_id = 4242;
      mr = mach_msg_trap(&m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof(mach_msg_header_t), sizeof m,
                         port, 0, MACH_PORT_NULL);
    }
    if (r >= 0)
      c[r] = rdtsc() - t0;
  }
  if (mr == MACH_MSG_SUCCESS)
    report("ipc_send_receive_self", c, kRpcLoops);
  else
    printf("# ipc_send_receive_self: %#x\n", mr);
  mach_port_mod_refs(self, port, MACH_PORT_RIGHT_RECEIVE, -1);
}

/* ---- null IPC RPC between two threads of the task (ipc_null_rpc_rtt_same_task) ----
   As the peer: a server thread receives header-only requests on a port and answers each on
   the send-once right it carries (MACH_SEND_MSG|MACH_RCV_MSG: the reply and the next receive
   in one trap). The client sends with COPY_SEND to the port and MAKE_SEND_ONCE of its reply
   port, and receives the reply in the same trap. 1k RPCs of warm-up, then passes of 20k. */


static volatile int server_done, server_errors;
static char server_stack[16384] __attribute__((aligned(16)));

static void rpc_server(void *arg) {
  mach_port_t port = (mach_port_t)(uintptr_t)arg;
  struct rpc_msg m;
  mach_msg_return_t mr =
      mach_msg_trap(&m.h, MACH_RCV_MSG, 0, sizeof m, port, 0, MACH_PORT_NULL);
  for (;;) {
    if (mr != MACH_MSG_SUCCESS) {
      server_errors++;
      mr = mach_msg_trap(&m.h, MACH_RCV_MSG, 0, sizeof m, port, 0, MACH_PORT_NULL);
      continue;
    }
    int stop = m.h.msgh_id == kRpcStopId;
    m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
    m.h.msgh_local_port = MACH_PORT_NULL;
    m.h.msgh_size = sizeof(mach_msg_header_t);
    if (stop)
      break;
    mr = mach_msg_trap(&m.h, MACH_SEND_MSG | MACH_RCV_MSG, sizeof(mach_msg_header_t), sizeof m,
                       port, 0, MACH_PORT_NULL);
  }
  server_done = 1;
  mach_msg_trap(&m.h, MACH_SEND_MSG, sizeof(mach_msg_header_t), 0, MACH_PORT_NULL, 0,
                MACH_PORT_NULL);
}

mach_msg_return_t rpc_call(mach_port_t dest, mach_port_t reply, mach_msg_id_t id) {
  struct rpc_msg m;
  m.h.msgh_bits = MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
  m.h.msgh_size = sizeof(mach_msg_header_t);
  m.h.msgh_remote_port = dest;
  m.h.msgh_local_port = reply;
  m.h.msgh_seqno = 0;
  m.h.msgh_id = id;
  mach_msg_return_t mr = mach_msg_trap(&m.h, MACH_SEND_MSG | MACH_RCV_MSG,
                                       sizeof(mach_msg_header_t), sizeof m, reply, 0,
                                       MACH_PORT_NULL);
  if (mr == MACH_MSG_SUCCESS && m.h.msgh_size != sizeof(mach_msg_header_t))
    return MACH_RCV_INVALID_DATA;  // not the header-only reply
  return mr;
}

static void bench_rpc(void) {
  const char *name = "ipc_null_rpc_rtt_same_task";
  mach_port_t self = mach_task_self(), port;
  kern_return_t kr = mach_port_allocate(self, MACH_PORT_RIGHT_RECEIVE, &port);
  if (kr == KERN_SUCCESS)
    kr = mach_port_insert_right(self, port, port, MACH_MSG_TYPE_MAKE_SEND);
  mach_port_t reply = mach_reply_port();
  if (kr != KERN_SUCCESS || !MACH_PORT_VALID(reply)) {
    printf("# %s: cannot make the ports (kr %#x)\n", name, kr);
    return;
  }
  server_done = server_errors = 0;
  if (mica_thread_start(rpc_server, (void *)(uintptr_t)port, server_stack,
                        sizeof server_stack) <= 0) {
    printf("# %s: cannot start a thread\n", name);
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
  if (mr != MACH_MSG_SUCCESS) {
    printf("# %s: an RPC failed with %#x\n", name, mr);
    return;
  }
  report(name, c, kRpcLoops);
  mr = rpc_call(port, reply, kRpcStopId);
  while (!server_done)
    swtch();
  if (mr != MACH_MSG_SUCCESS || server_errors)
    printf("# %s: stop RPC %#x, server errors %d\n", name, mr, server_errors);
  mach_port_mod_refs(self, port, MACH_PORT_RIGHT_RECEIVE, -1);
  mach_port_mod_refs(self, reply, MACH_PORT_RIGHT_RECEIVE, -1);
}

/* ---- two threads of the task taking turns ----
   The partner runs `partner_loop`: each time it runs it counts one turn and gives the CPU
   back, by handoff (thread_switch to the main thread) or by swtch. The main thread does the
   same. On one CPU each round trip is then exactly two switches; the "#" line compares the
   partner's turns with the main thread's calls to show it. With more CPUs the partner may
   run beside the main thread and the figure means nothing; tools/bench.sh uses -smp 1. */

static volatile mach_port_t main_name, partner_name;
static volatile int partner_ready, partner_stop, partner_done, use_handoff;
static volatile uint64_t turns;
// One stack per benchmark: a partner that set partner_done may still be on its way out.
static char partner_stacks[2][16384] __attribute__((aligned(16)));

static void give_way(mach_port_t to) {
  if (use_handoff)
    thread_switch(to, SWITCH_OPTION_NONE, 0);
  else
    swtch();
}

static void partner_loop(void *arg) {
  (void)arg;
  partner_name = mach_thread_self();
  partner_ready = 1;
  while (!partner_stop) {
    turns++;
    give_way(main_name);
  }
  partner_done = 1;
}

static void bench_pingpong(const char *name, int handoff) {
  uint64_t c[kMaxReps], calls = 0, seen = 0;
  partner_ready = partner_stop = partner_done = 0;
  use_handoff = handoff;
  main_name = mach_thread_self();
  char *stack = partner_stacks[handoff ? 0 : 1];
  if (mica_thread_start(partner_loop, NULL, stack, sizeof partner_stacks[0]) <= 0) {
    printf("# %s: cannot start a thread\n", name);
    return;
  }
  while (!partner_ready)
    swtch();
  for (int r = -1; r < reps; r++) {
    int n = r < 0 ? kWarmup : kSwitchLoops;
    uint64_t before = turns, t0 = rdtsc();
    for (int i = 0; i < n; i++)
      give_way(partner_name);
    uint64_t t1 = rdtsc();
    if (r >= 0) {
      c[r] = t1 - t0;
      calls += (uint64_t)n;
      seen += turns - before;
    }
  }
  partner_stop = 1;
  while (!partner_done)
    give_way(partner_name);
  report(name, c, kSwitchLoops);
  // Equal on one CPU (a timer preemption may add one now and then).
  printf("# %s: partner turns %lu for %lu calls\n", name, seen, calls);
}

int main(int argc, char **argv) {
  mach_port_t ports[2] = {MACH_PORT_NULL, MACH_PORT_NULL};  // host, device master
  int nports = 0, reboot = 0;
  unsigned paging_mib = 128;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "tsc_mhz=", 8) == 0)
      tsc_khz = parse_mhz(argv[i] + 8);
    else if (strncmp(argv[i], "reps=", 5) == 0)
      reps = atoi(argv[i] + 5);
    else if (strncmp(argv[i], "only=", 5) == 0)
      only = argv[i] + 5;
    else if (strcmp(argv[i], "gnumach=1") == 0)
      on_gnumach = reboot = 1;
    else if (strcmp(argv[i], "reboot=1") == 0)
      reboot = 1;
    else if (strncmp(argv[i], "paging_mib=", 11) == 0)
      paging_mib = (unsigned)atoi(argv[i] + 11);
    else if (argv[i][0] >= '0' && argv[i][0] <= '9' && nports < 2)
      ports[nports++] = (mach_port_t)strtoul(argv[i], NULL, 10);
  }
  if (reps < 1)
    reps = 1;
  if (reps > kMaxReps)
    reps = kMaxReps;
  long cpus = on_gnumach ? 1 : mica_cpu_count();
  printf("bench-start cpus=%ld reps=%d tsc_khz=%lu\n", cpus, reps, tsc_khz);
  if (cpus > 1)
    printf("# more than one CPU: the round trips below are not pure switches\n");
  if (want("traps"))
    bench_traps();
  if (want("ports"))
    bench_ports();
  if (want("mig"))
    bench_mig();
  if (want("rpc"))
    bench_rpc();
  if (want("pingpong")) {
    bench_pingpong("thread_switch_handoff_rtt", 1);
    bench_pingpong("swtch_yield_rtt", 0);
  }
  if (want("xtask") || (only && listed("xrpc")))
    bench_cross_task(!only || !listed("xrpc"));
  if (want("vm"))
    bench_vm();
  if (want("cow"))
    bench_cow();
  if (want("pager"))
    bench_pager();
  if (want("vmmap"))
    bench_vm_map();
  if (want("disk"))
    bench_disk(ports[1]);
  if (only && listed("paging"))
    bench_paging(paging_mib);
  if (want("fork")) {
    bench_fork("task_create_exit_terminate_base", 0, 0, 0);
    bench_fork("task_create_exit_terminate_64MiB", 64 * MiB, 0, 0);
    bench_fork("task_create_exit_terminate_64MiB_rewritten", 64 * MiB, 0, 1);
    bench_fork("task_self_terminate_base", 0, 1, 0);
  }
  printf("bench-done\n");
  if (reboot)
    host_reboot(ports[0], 0);
  return 0;
}
