/* The default pager's pieces (docs/default_pager.md):
   - swap.c: the swap area on the disk: its blocks, the free-block bitmap, the table that
     finds the block of an object's page, and the disk I/O.
   - object.c: the memory objects the pager keeps, the order of their messages, and the
     memory_object.defs / memory_object_default.defs routines.
   - default_pager.c: start-up (the disk, the tables, wiring, registering with the kernel)
     and the threads that receive on the port set.

   Locking: one mutex, dp_lock, guards every table (objects, blocks, bitmap, counters); one
   condition, dp_changed, is broadcast whenever something a thread may wait for changes (a
   turn, a block's I/O, an object's I/O count). No disk I/O and no message is sent with
   dp_lock held. */
#ifndef MICA_DEFAULT_PAGER_H
#define MICA_DEFAULT_PAGER_H

#include <cthreads/cthreads.h>
#include <mach.h>
#include <stdbool.h>
#include <stdint.h>

enum {
  kDpPageSize = 4096,                    /* a swap block is one page */
  kDpRecordSize = 512,                   /* the disk's record (docs/device.md) */
  kDpRecordsPerBlock = kDpPageSize / kDpRecordSize,
  kDpMaxRunPages = 64,                   /* pages per device_read / device_write */
  kDpGatherPages = 16,                   /* pages per data_supply gathered from several runs */
  kDpMaxRequestPages = 1024,             /* a data_request longer than 4 MiB is refused */
  kDpMaxObjects = 4096,                  /* objects kept at once, the default port's included */
};

/* No block, no object: the null index of the tables. */
#define DP_NONE UINT32_MAX

extern struct mutex dp_lock;
extern struct condition dp_changed;

/* What the pager has done, for its console lines. Guarded by dp_lock. */
struct dp_stats {
  uint64_t pages_written, pages_read;
  uint64_t pages_dropped;    /* data_return with no free block: the page is lost */
  uint64_t write_errors, read_errors;
  uint64_t bad_messages;     /* refused: malformed, unknown object, out of range */
  uint64_t objects_created, objects_terminated;
};
extern struct dp_stats dp_stats;

/* --- swap.c: the swap area. ---------------------------------------------------------- */

/* Opens "vd0" for reading and writing, sizes it and sets up the tables (memory from
   vm_allocate, sized from the disk: nothing is allocated later), then writes the header
   block. Prints what went wrong and returns false if it cannot. */
bool swap_init(mach_port_t device_master);

uint32_t swap_blocks_total(void);  /* swap blocks (the header block not counted) */
uint32_t swap_blocks_free(void);   /* dp_lock held */

/* The block holding page `page` of object `object`, or DP_NONE. dp_lock held. */
uint32_t swap_lookup(uint32_t object, uint32_t page);

/* A free block for page `page` of `object`, entered in the table and on the object's list
   (*list); `hint` (a block, or DP_NONE) is taken if free, so that consecutive pages get
   consecutive blocks. DP_NONE when the swap is full. dp_lock held. */
uint32_t swap_alloc(uint32_t object, uint32_t page, uint32_t hint, uint32_t *list);

/* Frees one block of the object whose list is *list. dp_lock held. */
void swap_free(uint32_t block, uint32_t *list);

/* Frees every block of a list. dp_lock held; none of them may have I/O in progress. */
void swap_free_list(uint32_t *list);

/* The I/O state of a block (dp_lock held): a writer excludes readers and other writers. */
bool swap_busy_for_write(uint32_t block);
bool swap_busy_for_read(uint32_t block);
void swap_begin_write(uint32_t block);
void swap_end_write(uint32_t block);
void swap_begin_read(uint32_t block);
void swap_end_read(uint32_t block);

/* Disk I/O of npages consecutive blocks, with no lock held. swap_write writes from data;
   swap_read returns the pages in new memory (*data, npages * kDpPageSize bytes, to be
   vm_deallocated). Both return D_SUCCESS or the device's error (D_IO_ERROR for a short
   transfer); D_NO_MEMORY is retried for a while first. */
kern_return_t swap_write(uint32_t block, vm_offset_t data, uint32_t npages);
kern_return_t swap_read(uint32_t block, uint32_t npages, vm_offset_t *data);

/* --- default_pager.c ------------------------------------------------------------------ */

/* Wires [address, address + size) of the pager's own memory (vm_wire with the privileged
   host port). */
void dp_wire(vm_address_t address, vm_size_t size);
/* The calling worker's buffer of kDpGatherPages pages, wired with the rest of its memory. */
char *dp_gather_buffer(void);

/* --- object.c: objects and their messages. -------------------------------------------- */

/* Makes the object table, with the default port (a receive right of ours) as its first
   entry. dp_lock free. */
void object_init(mach_port_t default_port, mach_port_t port_set);

/* A thread's turn on the object a message came to: the messages of one object are handled
   in their order of arrival (their sequence numbers), whichever thread received them. */
struct dp_turn {
  uint32_t object;     /* DP_NONE: no turn held */
  uint32_t generation;
};

/* Waits for the turn of the message `seqno` on port `port`. False if the port is no
   object of ours (any more): the message is then to be destroyed unread. dp_lock held. */
bool turn_take(mach_port_t port, mach_port_seqno_t seqno, struct dp_turn *turn);

/* Lets the object's next message go (nothing if the turn was already given up). dp_lock
   held. */
void turn_end(struct dp_turn *turn);

/* The calling thread's turn (its cthread data). */
struct dp_turn *turn_current(void);

/* The demultiplexers MIG generates (memory_object.defs and memory_object_default.defs). */
boolean_t memory_object_server(mach_msg_header_t *request, mach_msg_header_t *reply);
boolean_t memory_object_default_server(mach_msg_header_t *request, mach_msg_header_t *reply);

#endif
