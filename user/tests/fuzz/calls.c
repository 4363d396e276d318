/* Part 2: MIG calls and traps on the fuzz's task, thread and host ports and on a child task,
   with garbage arguments (fuzz_kernel_calls). */
#include <mach.h>
#include <mach/mach_host.h>
#include <mach/notify.h>
#include <mach/thread_status.h>
#include <mica/host_info.h>
#include <stdio.h>
#include <string.h>
#include <test/mach_util.h>

#include "fuzz.h"

/* --- Part 2: MIG calls and traps with garbage --- */

/* An address for a VM call: mostly the playground, sometimes anything. */
static uint64_t rand_addr(void) {
  uint64_t page = vm_page_size;
  switch (rnd(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
      return PLAYGROUND + (rnd64() % (PLAYGROUND_SIZE / page)) * page;
    case 5:
      return PLAYGROUND + rnd64() % PLAYGROUND_SIZE; /* unaligned */
    case 6:
      return chance(50) ? 0 : rnd(16) * page;
    case 7:
      return 0x800000000000ull - page * rnd(4); /* the top of user space */
    case 8:
      return KERNEL_HALF + (rnd64() % (1ull << 30)) * page;
    default:
      return rnd64();
  }
}

static uint64_t rand_size(void) {
  uint64_t page = vm_page_size;
  switch (rnd(10)) {
    case 0:
      return 0;
    case 1:
      return 1 + rnd(2 * page);
    case 2:
    case 3:
    case 4:
      return page * (1 + rnd(16));
    case 5:
      return rnd64() % (PLAYGROUND_SIZE * 2);
    case 6:
      return 1ull << (32 + rnd(32));
    case 7:
      return ~0ull - rnd(2 * page);
    case 8:
      return 0x800000000000ull;
    default:
      return rnd64();
  }
}

/* A random name for the target of a MIG call that is no kernel port: never a send right,
   since a call to a port of ours would wait forever for its reply (the stubs' receive has no
   timeout). */
static mach_port_t bad_target(void) {
  mach_port_t n = rand_name();
  mach_port_type_t t = 0;
  if (mach_port_type(self_task, n, &t) == KERN_SUCCESS &&
      (t & (MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_SEND_ONCE)))
    return chance(50) ? MACH_PORT_NULL : MACH_PORT_DEAD;
  return n;
}

/* The target of a call: mostly the port that call is for, sometimes anything. */
static mach_port_t task_target(mach_port_t child) {
  uint32_t r = rnd(100);
  if (r < 70) return self_task;
  if (r < 78 && MACH_PORT_VALID(child)) return child;
  if (r < 84) return self_thread;
  if (r < 88) return self_host;
  return bad_target();
}

static vm_prot_t rand_prot(void) { return chance(80) ? (vm_prot_t)rnd(8) : (vm_prot_t)rnd32(); }

/* The VM calls that change memory, on target: never on a protected range of ours. */
static bool vm_mutation_allowed(mach_port_t target, uint64_t addr, uint64_t size) {
  return (MACH_PORT_VALID(child_task) && target == child_task) || !range_protected(addr, size);
}

/* Deallocates what a call returned out of line, if it is not ours to keep. */
static void drop_returned(vm_address_t a, vm_size_t size) {
  if (a && size && !range_protected(a, size)) vm_deallocate(self_task, a, size);
}

/* Terminates the child. task_terminate returns once the child has ended (its threads, memory
   and port gone, as GNU Mach's), so its dead-name notification must be there already: it is
   waited for (1 s at most) only to say so if not. */
void end_child(void) {
  if (!MACH_PORT_VALID(child_task)) return;
  mach_port_t notify = receive_right(), previous = MACH_PORT_NULL;
  kern_return_t kr =
      mach_port_request_notification(self_task, child_task, MACH_NOTIFY_DEAD_NAME, 0, notify,
                                     MACH_MSG_TYPE_MAKE_SEND_ONCE, &previous);
  kern_return_t kt = task_terminate(child_task);
  if (kr == KERN_SUCCESS) {
    struct {
      mach_msg_header_t head;
      char body[64];
    } n;
    mach_msg_return_t mr = mach_msg(&n.head, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof n, notify,
                                    1000, MACH_PORT_NULL);
    if (mr != MACH_MSG_SUCCESS)
      printf("end_child: child %u not dead after 1 s (task_terminate %x)\n", child_task, kt);
  }
  destroy(notify);
  /* The dead name: our reference, and the notification's. */
  while (mach_port_deallocate(self_task, child_task) == KERN_SUCCESS) {
  }
  child_task = MACH_PORT_NULL;
}

void fuzz_one_call(long i) {
  static natural_t out[1024];
  mach_port_t task = task_target(child_task);
  unsigned call = rnd(48);
  TRACE(i, "call %ld: %u on %u\n", i, call, task);
  kern_return_t kr = 0;
  switch (call) {
    /* --- mach_port.defs --- */
    case 0: {
      mach_port_t n = MACH_PORT_NULL;
      kr = mach_port_allocate(task, chance(80) ? rnd(5) : rnd32(), &n);
      break;
    }
    case 1:
      kr = mach_port_allocate_name(task, chance(80) ? rnd(5) : rnd32(), rand_name());
      break;
    case 2:
      kr = mach_port_deallocate(task, rand_name());
      break;
    case 3:
      kr = mach_port_destroy(task, rand_name());
      break;
    case 4: {
      static const int deltas[] = {-2, -1, 0, 1, 2, 0x7fffffff, (int)0x80000000, 0xffff};
      kr = mach_port_mod_refs(task, rand_name(), chance(80) ? rnd(5) : rnd32(),
                              chance(80) ? deltas[rnd(8)] : (int)rnd32());
      break;
    }
    case 5: {
      mach_port_urefs_t refs;
      kr = mach_port_get_refs(task, rand_name(), chance(80) ? rnd(5) : rnd32(), &refs);
      break;
    }
    case 6: {
      mach_port_type_t t;
      kr = mach_port_type(task, rand_name(), &t);
      break;
    }
    case 7: {
      mach_port_t n = rand_name();
      kr = mach_port_rename(task, rand_name(), n);
      break;
    }
    case 8:
      kr = mach_port_set_qlimit(task, rand_name(), chance(50) ? rnd(20) : rnd32());
      break;
    case 9:
      kr = mach_port_set_mscount(task, rand_name(), rnd32());
      break;
    case 10:
      kr = mach_port_set_seqno(task, rand_name(), rnd32());
      break;
    case 11:
      kr = mach_port_move_member(task, rand_name(), rand_name());
      break;
    case 12: {
      mach_port_t previous = MACH_PORT_NULL;
      mach_msg_id_t id =
          chance(80) ? MACH_NOTIFY_FIRST + (mach_msg_id_t)rnd(10) : (mach_msg_id_t)rnd32();
      kr = mach_port_request_notification(task, rand_name(), id, chance(50) ? 0 : rnd32(),
                                          rand_name(), rand_disp(), &previous);
      break;
    }
    case 13:
      kr = mach_port_insert_right(task, rand_name(), rand_name(), rand_disp());
      break;
    case 14: {
      mach_port_t n = MACH_PORT_NULL;
      mach_msg_type_name_t t;
      kr = mach_port_extract_right(task, rand_name(), rand_disp(), &n, &t);
      break;
    }
    case 15: {
      mach_port_status_t st;
      kr = mach_port_get_receive_status(task, rand_name(), &st);
      break;
    }
    case 16: {
      mach_port_name_array_t members = NULL;
      mach_msg_type_number_t n = 0;
      kr = mach_port_get_set_status(task, rand_name(), &members, &n);
      if (kr == KERN_SUCCESS) drop_returned((vm_address_t)members, n * sizeof *members);
      break;
    }
    case 17: {
      mach_port_name_array_t names = NULL;
      mach_port_type_array_t types = NULL;
      mach_msg_type_number_t nn = 0, nt = 0;
      kr = mach_port_names(task, &names, &nn, &types, &nt);
      if (kr == KERN_SUCCESS) {
        drop_returned((vm_address_t)names, nn * sizeof *names);
        drop_returned((vm_address_t)types, nt * sizeof *types);
      }
      break;
    }
    case 18:
      kr = mach_port_set_protected_payload(task, rand_name(), rnd64());
      break;
    case 19:
      kr = mach_port_clear_protected_payload(task, rand_name());
      break;
    /* --- VM --- */
    case 20: {
      vm_address_t a = rand_addr();
      vm_size_t s = rand_size();
      boolean_t anywhere = chance(50);
      if (!anywhere && !vm_mutation_allowed(task, a, s)) break;
      kr = chance(50) ? vm_allocate(task, &a, s, anywhere)
                      : syscall_vm_allocate(task, &a, s, anywhere);
      break;
    }
    case 21: {
      vm_address_t a = rand_addr();
      vm_size_t s = rand_size();
      if (!vm_mutation_allowed(task, a, s)) break;
      kr = chance(50) ? vm_deallocate(task, a, s) : syscall_vm_deallocate(task, a, s);
      break;
    }
    case 22: {
      vm_address_t a = rand_addr();
      vm_size_t s = rand_size();
      if (!vm_mutation_allowed(task, a, s)) break;
      kr = vm_protect(task, a, s, chance(50), rand_prot());
      break;
    }
    case 23: {
      vm_address_t a = rand_addr();
      vm_size_t s = rand_size();
      if (!vm_mutation_allowed(task, a, s)) break;
      kr = vm_inherit(task, a, s, chance(80) ? rnd(4) : rnd32());
      break;
    }
    case 24: {
      vm_offset_t data = 0;
      mach_msg_type_number_t n = 0;
      /* Never from our own memory, for the reason ool_address gives. */
      vm_address_t a = chance(30) ? get_scratch() + rnd(kScratchPages * vm_page_size) : rand_addr();
      vm_size_t s = chance(50) ? rnd(4 * vm_page_size) : rand_size();
      if (!vm_mutation_allowed(task, a, s)) break;
      kr = vm_read(task, a, s, &data, &n);
      if (kr == KERN_SUCCESS) drop_returned(data, n);
      break;
    }
    case 25: {
      vm_address_t a = rand_addr();
      mach_msg_type_number_t n = chance(70) ? rnd(3 * vm_page_size) : rnd32();
      uint64_t src = chance(70) ? get_scratch() + 8 * rnd(64) : rand_addr();
      if (!vm_mutation_allowed(task, a, n) || range_protected(src, n)) break;
      kr = vm_write(task, a, (vm_offset_t)src, n);
      break;
    }
    case 26: {
      vm_address_t src = chance(30) ? get_scratch() : rand_addr(), dst = rand_addr();
      vm_size_t s = rand_size();
      if (!vm_mutation_allowed(task, dst, s) || !vm_mutation_allowed(task, src, s)) break;
      kr = vm_copy(task, src, s, dst);
      break;
    }
    case 27: {
      vm_address_t a = chance(20) ? (vm_address_t)arena : rand_addr();
      vm_size_t s = 0;
      vm_prot_t prot, maxprot;
      vm_inherit_t inh;
      boolean_t shared;
      mach_port_t object = MACH_PORT_NULL;
      vm_offset_t off;
      kr = vm_region(task, &a, &s, &prot, &maxprot, &inh, &shared, &object, &off);
      if (kr == KERN_SUCCESS && MACH_PORT_VALID(object)) mach_port_deallocate(self_task, object);
      break;
    }
    case 28: {
      vm_statistics_data_t st;
      kr = vm_statistics(task, &st);
      break;
    }
    case 29: {
      vm_address_t a = rand_addr();
      vm_size_t s = rand_size();
      boolean_t anywhere = chance(50);
      if (!anywhere && !vm_mutation_allowed(task, a, s)) break;
      mach_port_t object = chance(80) ? MACH_PORT_NULL : rand_name();
      vm_address_t mask = chance(70) ? 0 : rnd64();
      if (chance(50))
        kr = vm_map(task, &a, s, mask, anywhere, object, rnd64() % (1ull << 20), chance(50),
                    rand_prot(), rand_prot(), chance(80) ? rnd(4) : rnd32());
      else
        kr = syscall_vm_map(task, &a, s, mask, anywhere, object, rnd64() % (1ull << 20), chance(50),
                            rand_prot(), rand_prot(), chance(80) ? rnd(4) : rnd32());
      break;
    }
    case 30: {
      vm_address_t a = rand_addr();
      vm_size_t s = rand_size();
      if (!vm_mutation_allowed(task, a, s)) break;
      vm_machine_attribute_val_t v = rnd32();
      kr = vm_machine_attribute(task, a, s, rnd(4), &v);
      break;
    }
    case 31: {
      /* vm_wire needs the privileged host port, which the fuzz never passes. */
      vm_address_t a = rand_addr();
      vm_size_t s = rand_size();
      kr = vm_wire(chance(50) ? self_host : bad_target(), task, a, s, rand_prot());
      break;
    }
    /* --- Tasks, threads, host: reading calls and the harmless ones --- */
    case 32: {
      mach_msg_type_number_t n = chance(80) ? rnd(64) : 1024;
      kr = task_info(task, chance(80) ? rnd(8) : rnd32(), (task_info_t)out, &n);
      break;
    }
    case 33: {
      mach_msg_type_number_t n = chance(80) ? rnd(64) : 1024;
      kr = thread_info(chance(70) ? self_thread : task, chance(80) ? rnd(8) : rnd32(),
                       (thread_info_t)out, &n);
      break;
    }
    case 34: {
      mach_msg_type_number_t n = chance(80) ? rnd(128) : 1024;
      kr = thread_get_state(chance(70) ? self_thread : task, chance(80) ? rnd(16) : rnd32(),
                            (thread_state_t)out, &n);
      break;
    }
    case 35: {
      mach_msg_type_number_t n = chance(80) ? rnd(64) : 1024;
      kr = host_info(
          chance(70) ? self_host : bad_target(),
          chance(60) ? (int)rnd(8) : (chance(50) ? MICA_HOST_KERNEL_COUNTERS : (int)rnd32()),
          (host_info_t)out, &n);
      break;
    }
    case 36: {
      time_value_t tv;
      kr = host_get_time(chance(70) ? self_host : bad_target(), &tv);
      break;
    }
    case 37: {
      mach_port_t p = MACH_PORT_NULL;
      kr = task_get_special_port(task, chance(80) ? (int)rnd(6) : (int)rnd32(), &p);
      break;
    }
    case 38: {
      mach_port_t p = MACH_PORT_NULL;
      kr = thread_get_special_port(chance(70) ? self_thread : task,
                                   chance(80) ? (int)rnd(6) : (int)rnd32(), &p);
      break;
    }
    case 39: {
      thread_array_t threads = NULL;
      mach_msg_type_number_t n = 0;
      kr = task_threads(task, &threads, &n);
      if (kr == KERN_SUCCESS && n <= 1024 &&
          !range_protected((vm_address_t)threads, n * sizeof *threads)) {
        /* The references task_threads added (to our own thread's name too). */
        for (mach_msg_type_number_t k = 0; k < n; k++) mach_port_deallocate(self_task, threads[k]);
        drop_returned((vm_address_t)threads, n * sizeof *threads);
      }
      break;
    }
    case 40:
      kr = chance(50) ? task_resume(task) : thread_resume(chance(50) ? self_thread : task);
      break;
    case 41: {
      mach_port_array_t ports = NULL;
      mach_msg_type_number_t n = 0;
      kr = mach_ports_lookup(task, &ports, &n);
      if (kr == KERN_SUCCESS) drop_returned((vm_address_t)ports, n * sizeof *ports);
      break;
    }
    case 42: {
      processor_set_name_t pset = MACH_PORT_NULL;
      kr = processor_set_default(chance(70) ? self_host : bad_target(), &pset);
      break;
    }
    case 43: {
      processor_array_t procs = NULL;
      mach_msg_type_number_t n = 0;
      kr = host_processors(chance(70) ? self_host : bad_target(), &procs, &n);
      if (kr == KERN_SUCCESS) drop_returned((vm_address_t)procs, n * sizeof *procs);
      break;
    }
    case 44: {
      /* The non-privileged host port: these must be refused. */
      time_value_t tv = {(integer_t)rnd32(), (integer_t)rnd32()};
      if (chance(50))
        kr = host_set_time(self_host, tv);
      else
        kr = host_reboot(self_host, rnd32());
      break;
    }
    case 45:
      kr = syscall_thread_depress_abort(chance(70) ? self_thread : rand_name());
      break;
    case 46: {
      /* The trap versions of the port calls, on our own task (they refuse another). */
      mach_port_t n = MACH_PORT_NULL;
      switch (rnd(4)) {
        case 0:
          kr = syscall_mach_port_allocate(task, chance(80) ? rnd(5) : rnd32(), &n);
          break;
        case 1:
          kr = syscall_mach_port_deallocate(task, rand_name());
          break;
        case 2:
          kr = syscall_mach_port_insert_right(task, rand_name(), rand_name(), rand_disp());
          break;
        default:
          kr = syscall_mach_port_allocate_name(task, chance(80) ? rnd(5) : rnd32(), rand_name());
          break;
      }
      break;
    }
    default: {
      if (!fuzz_children) { /* see fuzz_children */
        kr = task_resume(self_task);
        break;
      }
      /* A child: created, given a few hostile calls, perhaps a thread with garbage
         registers, and terminated. */
      if (MACH_PORT_VALID(child_task)) {
        if (chance(30))
          end_child();
        else if (chance(30)) {
          thread_t t = MACH_PORT_NULL;
          kr = thread_create(child_task, &t);
          if (kr == KERN_SUCCESS) {
            for (int k = 0; k < 64; k++) out[k] = rnd32();
            thread_set_state(t, chance(80) ? i386_REGS_SEGS_STATE : rnd(8), (thread_state_t)out,
                             chance(80) ? i386_THREAD_STATE_COUNT : rnd(64));
            /* it faults at once, or spins */
            kern_return_t r1 = chance(30) ? thread_resume(t) : -1;
            kern_return_t r2 = chance(50) ? thread_terminate(t) : -1;
            TRACE(i, "  child thread %u: resume %x terminate %x\n", t, r1, r2);
            mach_port_deallocate(self_task, t);
          }
        } else {
          kr = task_suspend(child_task);
          TRACE(i, "  task_suspend(child %u)\n", child_task);
        }
      } else {
        kr = chance(50) ? task_create(self_task, chance(50), &child_task)
                        : syscall_task_create(self_task, chance(50), &child_task);
        if (kr != KERN_SUCCESS) child_task = MACH_PORT_NULL;
        TRACE(i, "  new child %u\n", child_task);
      }
      break;
    }
  }
  TRACE(i, "  -> %x\n", kr);
}
