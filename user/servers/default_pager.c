/* The default pager: the user task that keeps the pages of the kernel's own memory objects
   (zero-fill memory, shadow objects, temporary objects) when the kernel pages them out, in a
   swap area on the virtio disk "vd0". docs/default_pager.md describes it.

   Boot it as a module with the host-privileged port and the device master port as its first
   two words, GNU Mach's usual words for a boot task:
     default_pager ${host-port} ${device-port} $(task-create) $(task-resume)

   Start-up, before it serves anything:
   1. the swap area: opens vd0, sizes it, makes every table it will need (swap.c);
   2. its ports: the default port (a receive right) in a port set, and the object table;
   3. its threads: kThreads, the main thread among them, each receiving on the port set;
   4. its memory: every region of its address space is wired (vm_wire on the privileged
      host port), as GNU Mach's default pager wires itself, so that serving a pageout never
      faults on its own code, data, tables, buffers or stacks;
   5. registers the default port with vm_set_default_memory_manager.
   After that it allocates nothing of its own: only the kernel maps memory into it, the
   out-of-line data of data_return messages (wired on receipt, until it is on the disk) and
   of device_read replies. It never exits. */
#include "default_pager/default_pager.h"

#include <mach.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  kThreads = 4,        /* receiving threads, the main one included */
  kReceiveSize = 4096, /* every message the pager serves is far smaller */
  kReplySize = 512,
};

struct mutex dp_lock = MUTEX_INITIALIZER;
struct condition dp_changed = CONDITION_INITIALIZER;
struct dp_stats dp_stats;

static mach_port_t host_priv, device_master, default_port, port_set;

/* A receiving thread: its turn, and its buffers (static, so wired with the rest). */
struct worker {
  char gather[kDpGatherPages * kDpPageSize] __attribute__((aligned(4096)));
  struct dp_turn turn;
  union {
    mach_msg_header_t head;
    char bytes[kReceiveSize];
  } request;
  union {
    mig_reply_header_t head;
    char bytes[kReplySize];
  } reply;
};
static struct worker workers[kThreads];

struct dp_turn *turn_current(void) {
  return &((struct worker *)cthread_data(cthread_self()))->turn;
}

char *dp_gather_buffer(void) {
  return ((struct worker *)cthread_data(cthread_self()))->gather;
}

/* Serves one received message: in its object's turn, through the MIG demultiplexers. */
static void serve(struct worker *w, mach_msg_header_t *msg) {
  mutex_lock(&dp_lock);
  bool ours = turn_take(msg->msgh_local_port, msg->msgh_seqno, &w->turn);
  mutex_unlock(&dp_lock);
  if (!ours) {
    // Its object was terminated while the message waited for its turn.
    mach_msg_destroy(msg);
    return;
  }
  mig_reply_header_t *reply = &w->reply.head;
  if (!memory_object_server(msg, &reply->Head))
    (void)memory_object_default_server(msg, &reply->Head);
  if (reply->RetCode != KERN_SUCCESS && reply->RetCode != MIG_NO_REPLY) {
    // Malformed, unknown, or a routine the pager does not serve: what it holds goes.
    mutex_lock(&dp_lock);
    uint64_t n = ++dp_stats.bad_messages;
    mutex_unlock(&dp_lock);
    if (n <= 8 || (n & (n - 1)) == 0)
      printf("default_pager: message %d refused: 0x%x (%llu refused so far)\n",
             msg->msgh_id, reply->RetCode, (unsigned long long)n);
    mach_msg_destroy(msg);
  }
  // Every routine is a simpleroutine: nothing is sent back. The turn ends here if the
  // routine has not ended it already.
  mutex_lock(&dp_lock);
  turn_end(&w->turn);
  mutex_unlock(&dp_lock);
}

/* A message larger than the buffer is still received, into memory of its size, and served
   (refused, since no routine takes one): dropping it would leave a hole in its object's
   sequence numbers, and the object's next message would wait for its turn forever. */
static void serve_large(struct worker *w, mach_msg_size_t size) {
  for (int tries = 0; tries < 4; tries++) {
    vm_address_t buf = 0;
    vm_size_t bytes = (size + kDpPageSize - 1) & ~(vm_size_t)(kDpPageSize - 1);
    if (vm_allocate(mach_task_self(), &buf, bytes, TRUE) != KERN_SUCCESS)
      break;
    mach_msg_header_t *msg = (mach_msg_header_t *)buf;
    mach_msg_return_t mr = mach_msg(msg, MACH_RCV_MSG | MACH_RCV_LARGE, 0, (mach_msg_size_t)bytes,
                                    port_set, 0, MACH_PORT_NULL);
    if (mr == MACH_MSG_SUCCESS)
      serve(w, msg);
    else if (mr == MACH_RCV_TOO_LARGE)
      size = msg->msgh_size;  // another, larger one came first
    vm_deallocate(mach_task_self(), buf, bytes);
    if (mr != MACH_RCV_TOO_LARGE)
      return;
  }
  // No memory for it: let the kernel drop it (without MACH_RCV_LARGE).
  mach_msg(&w->request.head, MACH_RCV_MSG, 0, sizeof w->request, port_set, 0, MACH_PORT_NULL);
  printf("default_pager: a message of %u bytes was dropped\n", (unsigned)size);
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  w->turn.object = DP_NONE;
  cthread_set_data(cthread_self(), w);
  for (;;) {
    mach_msg_header_t *msg = &w->request.head;
    mach_msg_return_t mr = mach_msg(msg, MACH_RCV_MSG | MACH_RCV_LARGE, 0, sizeof w->request,
                                    port_set, 0, MACH_PORT_NULL);
    if (mr == MACH_RCV_TOO_LARGE)
      serve_large(w, msg->msgh_size);
    else if (mr == MACH_MSG_SUCCESS)
      serve(w, msg);
    else
      printf("default_pager: receive failed: 0x%x\n", mr);
  }
  return NULL;
}

/* The pages of a data_return: wired so that the pageout daemon cannot take them back before
   they are on the disk (the range goes, wired or not, at vm_deallocate). A failure is not
   fatal: the write itself then says whether the pages could be read. */
void dp_wire(vm_address_t address, vm_size_t size) {
  vm_wire(host_priv, mach_task_self(), address, size, VM_PROT_READ);
}

/* Wires every region of the task, as it is now: code, data, tables, buffers, stacks.
   Returns the bytes wired. */
static vm_size_t wire_memory(void) {
  vm_size_t wired = 0;
  vm_address_t address = 0;
  for (;;) {
    vm_size_t size = 0;
    vm_prot_t protection, max_protection;
    vm_inherit_t inheritance;
    boolean_t shared;
    mach_port_t name = MACH_PORT_NULL;
    vm_offset_t offset;
    if (vm_region(mach_task_self(), &address, &size, &protection, &max_protection,
                  &inheritance, &shared, &name, &offset) != KERN_SUCCESS)
      break;
    if (MACH_PORT_VALID(name))
      mach_port_deallocate(mach_task_self(), name);
    if (protection & VM_PROT_ALL) {
      kern_return_t kr = vm_wire(host_priv, mach_task_self(), address, size, protection);
      if (kr == KERN_SUCCESS)
        wired += size;
      else
        printf("default_pager: cannot wire [0x%lx, 0x%lx): 0x%x\n", (unsigned long)address,
               (unsigned long)(address + size), kr);
    }
    if (address + size <= address)
      break;
    address += size;
  }
  return wired;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    printf("default_pager: boot me with ${host-port} ${device-port}\n");
    return 1;
  }
  host_priv = (mach_port_t)strtoul(argv[1], NULL, 10);
  device_master = (mach_port_t)strtoul(argv[2], NULL, 10);

  if (!swap_init(device_master))
    return 1;

  kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &default_port);
  if (kr == KERN_SUCCESS)
    kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_PORT_SET, &port_set);
  if (kr == KERN_SUCCESS)
    kr = mach_port_move_member(mach_task_self(), default_port, port_set);
  if (kr != KERN_SUCCESS) {
    printf("default_pager: cannot set up its ports: 0x%x\n", kr);
    return 1;
  }
  object_init(default_port, port_set);

  for (int i = 1; i < kThreads; i++) {
    cthread_t t = cthread_fork(worker_main, &workers[i]);
    if (!t) {
      printf("default_pager: cannot start thread %d\n", i);
      return 1;
    }
    cthread_detach(t);
  }

  vm_size_t wired = wire_memory();

  mach_port_t previous = default_port;
  kr = vm_set_default_memory_manager(host_priv, &previous);
  if (kr != KERN_SUCCESS) {
    printf("default_pager: vm_set_default_memory_manager: 0x%x\n", kr);
    return 1;
  }
  if (MACH_PORT_VALID(previous))
    mach_port_deallocate(mach_task_self(), previous);

  printf("default_pager: swap on vd0: %u blocks of %u bytes, %d threads, %lu KiB wired, "
         "serving on port %u\n",
         swap_blocks_total(), kDpPageSize, kThreads, (unsigned long)(wired / 1024),
         (unsigned)default_port);
  worker_main(&workers[0]);
  return 0;
}
