/* The default pager's memory objects and the routines of memory_object.defs and
   memory_object_default.defs that it serves.

   An object is its control and name ports and the list of its swap blocks, and the port its
   messages come to. Entry 0 is the default port itself: memory_object_create arrives there,
   and makes an object with a port of its own (a receive right in the pager's port set). A
   task may also map the default port with vm_map: the kernel then sends memory_object_init
   there, and the pager serves a temporary object whose messages all come to the default
   port; the control port each message names tells these objects apart (a second mapping
   made while the kernel is still terminating the first one is a second object).

   Order. The threads receive from one port set, so two messages of one object may be in two
   threads at once. Each message takes its object's turn first (turn_take, by the sequence
   number the kernel gave it when it was received) and handles the tables in its turn; it
   gives the turn up (turn_end) before its disk I/O, so that the object's next message can
   start. The blocks' I/O states then keep the data in order: a read waits for a write of the
   same block in progress, a write for any I/O of its block, and memory_object_terminate for
   all the object's I/O.

   Every routine consumes what its message carried (data and rights) and returns
   KERN_SUCCESS; routines the pager does not serve return an error, and the receive loop
   destroys their messages. Answers go to the control port named in each request. */
#include "default_pager.h"

#include <device/device_types.h>
#include <mach/memory_object.h>
#include <stdio.h>
#include <string.h>

/* The routines below take every argument of the .defs, used or not. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

enum { kPortBuckets = 1024 };

struct object {
  mach_port_t port;          /* its receive right in the port set; MACH_PORT_NULL for an
                                object served on the default port */
  mach_port_t control;       /* one send right, MACH_PORT_NULL until created or initialized */
  mach_port_t name;          /* one send right, or MACH_PORT_NULL */
  vm_size_t size;            /* as memory_object_create said (not enforced) */
  mach_port_seqno_t seqno;   /* the sequence number whose turn it is */
  uint32_t generation;       /* changes when the entry goes: waiting turns then give up */
  uint32_t blocks;           /* its swap blocks (swap.c's list) */
  uint32_t ios;              /* messages of the object doing disk I/O */
  uint32_t next;             /* the next entry in its port bucket, among the default port's
                                objects, or in the free list */
};

static struct object objects[kDpMaxObjects];
static uint32_t port_buckets[kPortBuckets];
static uint32_t free_entries;
static uint32_t default_objects;  /* the objects served on the default port */
static mach_port_t default_port, port_set;

static uint32_t port_hash(mach_port_t port) { return (port ^ (port >> 10)) % kPortBuckets; }

static uint32_t find(mach_port_t port) {
  for (uint32_t i = port_buckets[port_hash(port)]; i != DP_NONE; i = objects[i].next)
    if (objects[i].port == port)
      return i;
  return DP_NONE;
}

/* A new entry for port, in its bucket (or, for MACH_PORT_NULL, among the default port's
   objects); DP_NONE if the table is full. dp_lock held. */
static uint32_t entry_add(mach_port_t port) {
  uint32_t i = free_entries;
  if (i == DP_NONE)
    return DP_NONE;
  struct object *o = &objects[i];
  free_entries = o->next;
  o->port = port;
  o->control = o->name = MACH_PORT_NULL;
  o->size = 0;
  o->seqno = 0;
  o->blocks = DP_NONE;
  o->ios = 0;
  uint32_t *head = port == MACH_PORT_NULL ? &default_objects : &port_buckets[port_hash(port)];
  o->next = *head;
  *head = i;
  return i;
}

/* Takes entry i off its bucket and frees it; turns waiting on it give up. dp_lock held. */
static void entry_remove(uint32_t i) {
  struct object *o = &objects[i];
  uint32_t *link =
      o->port == MACH_PORT_NULL ? &default_objects : &port_buckets[port_hash(o->port)];
  while (*link != i && *link != DP_NONE)
    link = &objects[*link].next;
  if (*link == i)
    *link = o->next;
  o->port = MACH_PORT_NULL;
  o->generation++;
  o->next = free_entries;
  free_entries = i;
  condition_broadcast(&dp_changed);
}

void object_init(mach_port_t default_port_, mach_port_t port_set_) {
  default_port = default_port_;
  port_set = port_set_;
  for (uint32_t b = 0; b < kPortBuckets; b++)
    port_buckets[b] = DP_NONE;
  default_objects = DP_NONE;
  for (uint32_t i = 0; i < kDpMaxObjects; i++)
    objects[i].next = i + 1 < kDpMaxObjects ? i + 1 : DP_NONE;
  free_entries = 0;
  mutex_lock(&dp_lock);
  entry_add(default_port);  // entry 0
  mutex_unlock(&dp_lock);
}

bool turn_take(mach_port_t port, mach_port_seqno_t seqno, struct dp_turn *turn) {
  turn->object = DP_NONE;
  uint32_t i = find(port);
  if (i == DP_NONE)
    return false;
  struct object *o = &objects[i];
  uint32_t generation = o->generation;
  while (o->generation == generation && o->seqno != seqno)
    condition_wait(&dp_changed, &dp_lock);
  if (o->generation != generation)
    return false;
  turn->object = i;
  turn->generation = generation;
  return true;
}

void turn_end(struct dp_turn *turn) {
  if (turn->object == DP_NONE)
    return;
  struct object *o = &objects[turn->object];
  if (o->generation == turn->generation)
    o->seqno++;
  turn->object = DP_NONE;
  condition_broadcast(&dp_changed);
}

/* The port entry whose turn the calling thread holds (the one its message came to). */
static uint32_t current_port(void) { return turn_current()->object; }

/* The object a message with this control port is for: the port's own object, or on the
   default port the object with that control port (DP_NONE if none). dp_lock held. */
static uint32_t target(mach_port_t control) {
  uint32_t i = current_port();
  if (i != 0)
    return i;
  if (!MACH_PORT_VALID(control))
    return DP_NONE;
  for (i = default_objects; i != DP_NONE; i = objects[i].next)
    if (objects[i].control == control)
      return i;
  return DP_NONE;
}

/* Console lines about refused or lost pages: the first few, then at powers of two, so that
   a storm of them cannot flood the console. */
static bool worth_a_line(uint64_t n) { return n <= 8 || (n & (n - 1)) == 0; }

static void refused(const char *routine, const char *why) {
  mutex_lock(&dp_lock);
  uint64_t n = ++dp_stats.bad_messages;
  mutex_unlock(&dp_lock);
  if (worth_a_line(n))
    printf("default_pager: %s refused: %s (%llu refused so far)\n", routine, why,
           (unsigned long long)n);
}

static void deallocate(mach_port_t name) {
  if (MACH_PORT_VALID(name))
    mach_port_deallocate(mach_task_self(), name);
}

static void destroy(mach_port_t name) {
  if (MACH_PORT_VALID(name))
    mach_port_destroy(mach_task_self(), name);
}

/* Why a range of an object cannot be used: not whole pages, or past 2^32 pages. */
static const char *bad_range(vm_offset_t offset, vm_size_t size) {
  if (offset % kDpPageSize || size % kDpPageSize)
    return "not whole pages";
  if (size == 0)
    return "empty";
  if (offset / kDpPageSize >= DP_NONE || size / kDpPageSize >= DP_NONE ||
      offset / kDpPageSize + size / kDpPageSize > DP_NONE)
    return "beyond 2^32 pages";
  return NULL;
}

/* --- memory_object_default.defs ------------------------------------------------------- */

kern_return_t memory_object_create(mach_port_t old_memory_object, mach_port_t new_memory_object,
                                   vm_size_t new_object_size, mach_port_t new_control_port,
                                   mach_port_t new_name, vm_size_t new_page_size) {
  const char *why = NULL;
  char reason[48];
  uint32_t i = DP_NONE;
  mutex_lock(&dp_lock);
  if (current_port() != 0)
    why = "not sent to the default port";
  else if (!MACH_PORT_VALID(new_memory_object))
    why = "no memory object";
  else if (!MACH_PORT_VALID(new_control_port))
    why = "no control port";
  else if (new_page_size != kDpPageSize)
    why = "page size is not 4096";
  else if ((i = entry_add(new_memory_object)) == DP_NONE)
    why = "too many objects";
  if (!why) {
    objects[i].control = new_control_port;
    objects[i].name = new_name;
    objects[i].size = new_object_size;
    dp_stats.objects_created++;
  }
  turn_end(turn_current());
  mutex_unlock(&dp_lock);

  // The object's messages are taken in turns from sequence number 0; nobody receives from
  // its port before it joins the set.
  kern_return_t kr = KERN_SUCCESS;
  if (!why) {
    kr = mach_port_set_seqno(mach_task_self(), new_memory_object, 0);
    if (kr == KERN_SUCCESS)
      kr = mach_port_move_member(mach_task_self(), new_memory_object, port_set);
    if (kr != KERN_SUCCESS) {
      mutex_lock(&dp_lock);
      objects[i].control = objects[i].name = MACH_PORT_NULL;
      entry_remove(i);
      dp_stats.objects_created--;
      mutex_unlock(&dp_lock);
      snprintf(reason, sizeof reason, "cannot serve its port (0x%x)", kr);
      why = reason;
    }
  }
  if (why) {
    refused("memory_object_create", why);
    if (MACH_PORT_VALID(new_memory_object))
      mach_port_mod_refs(mach_task_self(), new_memory_object, MACH_PORT_RIGHT_RECEIVE, -1);
    deallocate(new_control_port);
    deallocate(new_name);
  }
  return KERN_SUCCESS;
}

/* Stores whole pages from data (count bytes) at offset. data_initialize (initialize) keeps
   what the object already holds; data_return overwrites it, in the page's block. */
static void store(const char *routine, mach_port_t control, vm_offset_t offset,
                  vm_offset_t data, vm_size_t count, bool initialize) {
  const char *why = bad_range(offset, count);
  mutex_lock(&dp_lock);
  uint32_t oi = target(control);
  mutex_unlock(&dp_lock);
  if (!why && oi == DP_NONE)
    why = "unknown object";
  uint32_t first = (uint32_t)(offset / kDpPageSize);
  uint32_t npages = why ? 0 : (uint32_t)(count / kDpPageSize);
  uint32_t dropped = 0, errors = 0;
  if (npages)
    dp_wire(data, count);
  struct object *o = &objects[oi == DP_NONE ? 0 : oi];

  // In chunks of kDpMaxRunPages: a message of more keeps its turn until its last chunk is
  // reserved, so that the object's later messages still come after it.
  for (uint32_t done = 0; done < npages;) {
    uint32_t n = npages - done < kDpMaxRunPages ? npages - done : kDpMaxRunPages;
    uint32_t blk[kDpMaxRunPages];
    mutex_lock(&dp_lock);
    uint32_t hint = DP_NONE;
    for (uint32_t k = 0; k < n; k++) {
      uint32_t page = first + done + k;
      uint32_t b = swap_lookup(oi, page);
      if (b != DP_NONE && initialize) {
        blk[k] = DP_NONE;  // it has data already: the initial data is discarded
        continue;
      }
      while (b != DP_NONE && swap_busy_for_write(b)) {
        condition_wait(&dp_changed, &dp_lock);
        b = swap_lookup(oi, page);  // a failed write may have freed it meanwhile
      }
      if (b == DP_NONE)
        b = swap_alloc(oi, page, hint, &o->blocks);
      if (b == DP_NONE) {
        dropped++;  // the swap is full: the page is lost
        dp_stats.pages_dropped++;
        blk[k] = DP_NONE;
        continue;
      }
      swap_begin_write(b);
      blk[k] = b;
      hint = b + 1;
    }
    o->ios++;
    if (done + n == npages)
      turn_end(turn_current());
    mutex_unlock(&dp_lock);

    // Runs of pages in consecutive blocks go to the disk in one write each.
    bool ok[kDpMaxRunPages];
    kern_return_t error = D_SUCCESS;
    for (uint32_t k = 0; k < n;) {
      if (blk[k] == DP_NONE) {
        k++;
        continue;
      }
      uint32_t run = 1;
      while (k + run < n && blk[k + run] == blk[k] + run)
        run++;
      kern_return_t kr = swap_write(blk[k], data + (vm_offset_t)(done + k) * kDpPageSize, run);
      if (kr != D_SUCCESS)
        error = kr;
      for (uint32_t j = 0; j < run; j++)
        ok[k + j] = kr == D_SUCCESS;
      k += run;
    }

    mutex_lock(&dp_lock);
    for (uint32_t k = 0; k < n; k++) {
      if (blk[k] == DP_NONE)
        continue;
      swap_end_write(blk[k]);
      if (ok[k]) {
        dp_stats.pages_written++;
      } else {
        // What the block held is no longer known: the page goes, and reads as zero.
        swap_free(blk[k], &o->blocks);
        dp_stats.write_errors++;
        errors++;
      }
    }
    o->ios--;
    uint64_t total_dropped = dp_stats.pages_dropped, total_errors = dp_stats.write_errors;
    condition_broadcast(&dp_changed);
    mutex_unlock(&dp_lock);
    if (dropped && worth_a_line(total_dropped))
      printf("default_pager: swap full: %u page(s) of a %s dropped (%llu dropped so far)\n",
             dropped, routine, (unsigned long long)total_dropped);
    if (errors && worth_a_line(total_errors))
      printf("default_pager: disk write failed (0x%x): %u page(s) lost (%llu so far)\n", error,
             errors, (unsigned long long)total_errors);
    dropped = errors = 0;
    done += n;
  }

  if (why) {
    mutex_lock(&dp_lock);
    turn_end(turn_current());
    mutex_unlock(&dp_lock);
    refused(routine, why);
  }
  if (count)
    vm_deallocate(mach_task_self(), data, count);
  deallocate(control);  // the send right this message made
}

kern_return_t memory_object_data_return(mach_port_t memory_object, mach_port_t memory_control,
                                        vm_offset_t offset, vm_offset_t data,
                                        mach_msg_type_number_t dataCnt, boolean_t dirty,
                                        boolean_t kernel_copy) {
  store("memory_object_data_return", memory_control, offset, data, dataCnt, false);
  return KERN_SUCCESS;
}

kern_return_t memory_object_data_initialize(mach_port_t memory_object,
                                            mach_port_t memory_control_port,
                                            vm_offset_t offset, vm_offset_t data,
                                            mach_msg_type_number_t dataCnt) {
  store("memory_object_data_initialize", memory_control_port, offset, data, dataCnt, true);
  return KERN_SUCCESS;
}

/* --- memory_object.defs --------------------------------------------------------------- */

kern_return_t memory_object_data_request(mach_port_t memory_object, mach_port_t memory_control,
                                         vm_offset_t offset, vm_size_t length,
                                         vm_prot_t desired_access) {
  const char *why = bad_range(offset, length);
  if (!why && length / kDpPageSize > kDpMaxRequestPages)
    why = "longer than 4 MiB";
  mutex_lock(&dp_lock);
  uint32_t oi = target(memory_control);
  mutex_unlock(&dp_lock);
  if (!why && oi == DP_NONE)
    why = "unknown object";
  uint32_t first = (uint32_t)(offset / kDpPageSize);
  uint32_t npages = why ? 0 : (uint32_t)(length / kDpPageSize);
  struct object *o = &objects[oi == DP_NONE ? 0 : oi];
  uint32_t read_errors = 0;

  for (uint32_t done = 0; done < npages;) {
    uint32_t n = npages - done < kDpMaxRunPages ? npages - done : kDpMaxRunPages;
    uint32_t blk[kDpMaxRunPages];
    mutex_lock(&dp_lock);
    for (uint32_t k = 0; k < n; k++) {
      uint32_t page = first + done + k;
      uint32_t b = swap_lookup(oi, page);
      while (b != DP_NONE && swap_busy_for_read(b)) {
        condition_wait(&dp_changed, &dp_lock);
        b = swap_lookup(oi, page);
      }
      if (b != DP_NONE)
        swap_begin_read(b);
      blk[k] = b;
    }
    o->ios++;
    if (done + n == npages)
      turn_end(turn_current());
    mutex_unlock(&dp_lock);

    // Runs of pages never written are zero (data_unavailable). Pages the swap holds are read
    // a run of consecutive blocks at a time, and supplied together, up to kDpGatherPages in
    // one message even when their blocks are not consecutive: the fault that asked for the
    // first page then finds the kernel's read-ahead pages there when it wakes, instead of
    // asking again for each one that is still on its way.
    uint32_t pages_read = 0;
    kern_return_t error = D_SUCCESS;
    char *gather = dp_gather_buffer();
    for (uint32_t k = 0; k < n;) {
      vm_offset_t at = offset + (vm_offset_t)(done + k) * kDpPageSize;
      uint32_t span = 1;
      if (blk[k] == DP_NONE) {
        while (k + span < n && blk[k + span] == DP_NONE)
          span++;
        memory_object_data_unavailable(memory_control, at, (vm_size_t)span * kDpPageSize);
        k += span;
        continue;
      }
      while (k + span < n && span < kDpGatherPages && blk[k + span] != DP_NONE)
        span++;
      uint32_t got = 0;  // pages of the span read, in `data` (one run) or in `gather`
      vm_offset_t data = 0;
      while (got < span) {
        uint32_t run = 1;
        while (got + run < span && blk[k + got + run] == blk[k + got] + run)
          run++;
        vm_offset_t part = 0;
        kern_return_t kr = swap_read(blk[k + got], run, &part);
        if (kr != D_SUCCESS) {
          error = kr;
          break;
        }
        if (got == 0 && run == span) {
          data = part;  // one run: supplied as read, without a copy
        } else {
          if (got == 0 && data == 0)
            data = (vm_offset_t)gather;
          memcpy(gather + (size_t)got * kDpPageSize, (void *)part, (size_t)run * kDpPageSize);
          vm_deallocate(mach_task_self(), part, (vm_size_t)run * kDpPageSize);
        }
        got += run;
      }
      if (got) {
        // Sent as a copy; the read's memory is deallocated here whatever becomes of it.
        memory_object_data_supply(memory_control, at, data, got * kDpPageSize, FALSE,
                                  VM_PROT_NONE, FALSE, MACH_PORT_NULL);
        if (data != (vm_offset_t)gather)
          vm_deallocate(mach_task_self(), data, (vm_size_t)got * kDpPageSize);
        pages_read += got;
      }
      if (got < span) {
        // The read of the run at k + got failed: that page is an error; the kernel asks
        // again for the ones after it.
        memory_object_data_error(memory_control, at + (vm_offset_t)got * kDpPageSize,
                                 kDpPageSize, KERN_FAILURE);
        read_errors++;
        got++;
      }
      k += got;
    }

    mutex_lock(&dp_lock);
    for (uint32_t k = 0; k < n; k++)
      if (blk[k] != DP_NONE)
        swap_end_read(blk[k]);
    o->ios--;
    dp_stats.pages_read += pages_read;
    dp_stats.read_errors += read_errors;
    uint64_t total_errors = dp_stats.read_errors;
    condition_broadcast(&dp_changed);
    mutex_unlock(&dp_lock);
    if (read_errors && worth_a_line(total_errors))
      printf("default_pager: disk read failed (0x%x): %u page(s) (%llu so far)\n", error,
             read_errors, (unsigned long long)total_errors);
    read_errors = 0;
    done += n;
  }

  if (why) {
    mutex_lock(&dp_lock);
    turn_end(turn_current());
    mutex_unlock(&dp_lock);
    refused("memory_object_data_request", why);
  }
  deallocate(memory_control);
  return KERN_SUCCESS;
}

kern_return_t memory_object_init(mach_port_t memory_object, mach_port_t memory_control,
                                 mach_port_t memory_object_name,
                                 vm_size_t memory_object_page_size) {
  const char *why = NULL;
  uint32_t i = DP_NONE;
  mutex_lock(&dp_lock);
  if (current_port() != 0)
    why = "the object is initialized already";  // made by memory_object_create
  else if (!MACH_PORT_VALID(memory_control))
    why = "no control port";
  else if (target(memory_control) != DP_NONE)
    why = "the object is initialized already";
  else if (memory_object_page_size != kDpPageSize)
    why = "page size is not 4096";
  else if ((i = entry_add(MACH_PORT_NULL)) == DP_NONE)
    why = "too many objects";
  if (!why) {
    objects[i].control = memory_control;
    objects[i].name = memory_object_name;
    dp_stats.objects_created++;
  }
  turn_end(turn_current());
  mutex_unlock(&dp_lock);
  if (why) {
    refused("memory_object_init", why);
    deallocate(memory_control);
    deallocate(memory_object_name);
    return KERN_SUCCESS;
  }
  // A temporary object: not cached once unmapped, copied lazily.
  memory_object_ready(memory_control, FALSE, MEMORY_OBJECT_COPY_DELAY);
  return KERN_SUCCESS;
}

kern_return_t memory_object_terminate(mach_port_t memory_object, mach_port_t memory_control,
                                      mach_port_t memory_object_name) {
  const char *why = NULL;
  mach_port_t port = MACH_PORT_NULL, name = MACH_PORT_NULL;
  mutex_lock(&dp_lock);
  uint32_t oi = target(memory_control);
  struct object *o = &objects[oi == DP_NONE ? 0 : oi];
  if (oi == DP_NONE)
    why = "unknown object";
  else if (o->control != memory_control)
    why = "not the object's control port";
  if (!why) {
    // Its I/O in progress ends first: its blocks may then be freed and taken by others.
    while (o->ios)
      condition_wait(&dp_changed, &dp_lock);
    swap_free_list(&o->blocks);
    name = o->name;
    port = o->port;  // MACH_PORT_NULL for an object of the default port
    o->control = o->name = MACH_PORT_NULL;
    entry_remove(oi);
    dp_stats.objects_terminated++;
  }
  turn_end(turn_current());
  mutex_unlock(&dp_lock);
  if (why)
    refused("memory_object_terminate", why);
  // The receive rights the message moved to us, with our send rights under the same names;
  // then the object's own port, and the messages still queued on it.
  destroy(memory_control);
  destroy(memory_object_name);
  if (name != memory_object_name)
    destroy(name);
  destroy(port);
  return KERN_SUCCESS;
}

/* Not served: the kernel never sends these to the default pager. The receive loop destroys
   the message (and the rights it carries). */
kern_return_t memory_object_copy(mach_port_t old_memory_object, mach_port_t old_memory_control,
                                 vm_offset_t offset, vm_size_t length,
                                 mach_port_t new_memory_object) {
  return KERN_FAILURE;
}

kern_return_t memory_object_data_unlock(mach_port_t memory_object, mach_port_t memory_control,
                                        vm_offset_t offset, vm_size_t length,
                                        vm_prot_t desired_access) {
  return KERN_FAILURE;
}

kern_return_t memory_object_lock_completed(mach_port_t memory_object,
                                           mach_port_t memory_control, vm_offset_t offset,
                                           vm_size_t length) {
  return KERN_FAILURE;
}

kern_return_t memory_object_supply_completed(mach_port_t memory_object,
                                             mach_port_t memory_control, vm_offset_t offset,
                                             vm_size_t length, kern_return_t result,
                                             vm_offset_t error_offset) {
  return KERN_FAILURE;
}

kern_return_t memory_object_change_completed(mach_port_t memory_object, boolean_t may_cache,
                                             memory_object_copy_strategy_t copy_strategy) {
  return KERN_FAILURE;
}
