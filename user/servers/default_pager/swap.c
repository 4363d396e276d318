/* The swap area: disk "vd0" cut into 4 KiB blocks (8 records each). Block 0 holds a header
   that says what the disk is; blocks 1 to n-1 hold pages. The disk's contents do not outlive
   the boot: every object starts empty.

   The tables are made once, at start-up, sized from the disk, so that paging never needs
   memory of the pager's own:
   - a free-block bitmap, searched a word at a time from a rotating cursor;
   - one entry per block: the object and page it holds, its I/O state, and two links (the
     chain of its hash bucket, and its object's list of blocks);
   - hash buckets that find the block of (object, page).
   Every page in swap has a block and every block one page, so one entry per block is all
   the table ever needs, however sparse an object is. About 20 bytes per 4 KiB block. */
#include "default_pager.h"

#include <device/device.h>
#include <device/device_types.h>
#include <stdio.h>
#include <string.h>

/* At most 1 GiB of swap: the tables for it take about 5 MiB of wired memory. A larger disk
   is used up to that size. */
enum { kMaxSwapBlocks = 1u << 18 };

struct block {
  uint32_t object;       /* DP_NONE: free */
  uint32_t page;         /* page index in the object */
  uint32_t hash_next;    /* next block in the same bucket */
  uint32_t object_next;  /* next block of the same object */
  uint16_t readers;      /* reads in progress */
  uint16_t writing;      /* a write in progress */
};

static mach_port_t device;
static uint32_t nblocks;     /* blocks on the disk we use, the header's included */
static uint32_t free_count;
static uint32_t cursor;      /* where the search for a free block starts */
static uint64_t *bitmap;     /* bit set: block in use (the header, past the end too) */
static struct block *blocks;
static uint32_t *buckets;    /* heads of the hash chains */
static uint32_t bucket_mask;
static mach_port_t sleep_port;  /* a receive right nobody sends to: waits time out on it */

/* The header block: what a person reading the disk finds at its start. */
static char header[kDpPageSize] __attribute__((aligned(kDpPageSize)));

static uint32_t hash(uint32_t object, uint32_t page) {
  uint32_t h = page * 0x9e3779b1u ^ object * 0x85ebca6bu;
  return (h ^ (h >> 15)) & bucket_mask;
}

static void *table_alloc(vm_size_t size) {
  vm_address_t a = 0;
  size = (size + kDpPageSize - 1) & ~(vm_size_t)(kDpPageSize - 1);
  if (vm_allocate(mach_task_self(), &a, size, TRUE) != KERN_SUCCESS)
    return NULL;
  return (void *)a;
}

bool swap_init(mach_port_t device_master) {
  kern_return_t kr = mach_port_allocate(mach_task_self(), MACH_PORT_RIGHT_RECEIVE, &sleep_port);
  if (kr != KERN_SUCCESS) {
    printf("default_pager: no port: 0x%x\n", kr);
    return false;
  }
  kr = device_open(device_master, D_READ | D_WRITE, "vd0", &device);
  if (kr != D_SUCCESS) {
    printf("default_pager: cannot open vd0: 0x%x\n", kr);
    return false;
  }
  int status[DEV_GET_SIZE_COUNT];
  mach_msg_type_number_t count = DEV_GET_SIZE_COUNT;
  kr = device_get_status(device, DEV_GET_SIZE, status, &count);
  if (kr != D_SUCCESS || count < DEV_GET_SIZE_COUNT ||
      status[DEV_GET_SIZE_RECORD_SIZE] != kDpRecordSize) {
    printf("default_pager: cannot size vd0: 0x%x\n", kr);
    return false;
  }
  uint64_t disk_blocks = (uint64_t)(unsigned)status[DEV_GET_SIZE_DEVICE_SIZE] / kDpPageSize;
  if (disk_blocks < 2) {
    printf("default_pager: vd0 is too small for swap (%u bytes)\n",
           (unsigned)status[DEV_GET_SIZE_DEVICE_SIZE]);
    return false;
  }
  nblocks = disk_blocks > kMaxSwapBlocks ? kMaxSwapBlocks : (uint32_t)disk_blocks;

  uint32_t nbuckets = 1;
  while (nbuckets < nblocks)
    nbuckets <<= 1;
  bucket_mask = nbuckets - 1;
  uint32_t words = (nblocks + 63) / 64;
  bitmap = table_alloc(words * sizeof *bitmap);
  blocks = table_alloc(nblocks * sizeof *blocks);
  buckets = table_alloc(nbuckets * sizeof *buckets);
  if (!bitmap || !blocks || !buckets) {
    printf("default_pager: no memory for the swap tables of %u blocks\n", nblocks);
    return false;
  }
  memset(buckets, 0xff, nbuckets * sizeof *buckets);
  for (uint32_t b = 0; b < nblocks; b++) {
    blocks[b].object = DP_NONE;
    blocks[b].hash_next = blocks[b].object_next = DP_NONE;
  }
  bitmap[0] |= 1;  // the header
  for (uint32_t b = nblocks; b < words * 64; b++)
    bitmap[b / 64] |= 1ull << (b % 64);
  free_count = nblocks - 1;
  cursor = 1;

  snprintf(header, sizeof header,
           "MICA DEFAULT PAGER SWAP\nversion 1\nblock size %u\nblocks %u\n"
           "Block 0 is this header; blocks 1 to %u hold pages. Nothing here outlives a boot.\n",
           kDpPageSize, nblocks, nblocks - 1);
  kr = swap_write(0, (vm_offset_t)header, 1);
  if (kr != D_SUCCESS) {
    printf("default_pager: cannot write the swap header on vd0: 0x%x\n", kr);
    return false;
  }
  return true;
}

uint32_t swap_blocks_total(void) { return nblocks - 1; }
uint32_t swap_blocks_free(void) { return free_count; }

uint32_t swap_lookup(uint32_t object, uint32_t page) {
  for (uint32_t b = buckets[hash(object, page)]; b != DP_NONE; b = blocks[b].hash_next)
    if (blocks[b].object == object && blocks[b].page == page)
      return b;
  return DP_NONE;
}

static bool block_free(uint32_t b) { return !(bitmap[b / 64] & (1ull << (b % 64))); }

/* A free block: the hint if it is free, else the first free one from the cursor on. */
static uint32_t find_free(uint32_t hint) {
  if (free_count == 0)
    return DP_NONE;
  if (hint != DP_NONE && hint < nblocks && block_free(hint))
    return hint;
  uint32_t words = (nblocks + 63) / 64;
  uint32_t w = cursor / 64;
  for (uint32_t i = 0; i <= words; i++, w = (w + 1) % words)
    if (bitmap[w] != ~0ull)
      return w * 64 + (uint32_t)__builtin_ctzll(~bitmap[w]);
  return DP_NONE;  // not reached while free_count is right
}

uint32_t swap_alloc(uint32_t object, uint32_t page, uint32_t hint, uint32_t *list) {
  uint32_t b = find_free(hint);
  if (b == DP_NONE)
    return DP_NONE;
  bitmap[b / 64] |= 1ull << (b % 64);
  free_count--;
  cursor = b + 1 < nblocks ? b + 1 : 1;
  struct block *e = &blocks[b];
  e->object = object;
  e->page = page;
  e->readers = 0;
  e->writing = 0;
  uint32_t *head = &buckets[hash(object, page)];
  e->hash_next = *head;
  *head = b;
  e->object_next = *list;
  *list = b;
  return b;
}

/* Takes b off its hash chain and marks it free. */
static void release(uint32_t b) {
  struct block *e = &blocks[b];
  uint32_t *link = &buckets[hash(e->object, e->page)];
  while (*link != b && *link != DP_NONE)
    link = &blocks[*link].hash_next;
  if (*link == b)
    *link = e->hash_next;
  e->object = DP_NONE;
  e->hash_next = e->object_next = DP_NONE;
  bitmap[b / 64] &= ~(1ull << (b % 64));
  free_count++;
}

void swap_free(uint32_t block, uint32_t *list) {
  uint32_t *link = list;
  while (*link != block && *link != DP_NONE)
    link = &blocks[*link].object_next;
  if (*link == block)
    *link = blocks[block].object_next;
  release(block);
}

void swap_free_list(uint32_t *list) {
  uint32_t b = *list;
  while (b != DP_NONE) {
    uint32_t next = blocks[b].object_next;
    release(b);
    b = next;
  }
  *list = DP_NONE;
}

bool swap_busy_for_write(uint32_t b) { return blocks[b].writing || blocks[b].readers; }
bool swap_busy_for_read(uint32_t b) { return blocks[b].writing; }
void swap_begin_write(uint32_t b) { blocks[b].writing = 1; }
void swap_end_write(uint32_t b) { blocks[b].writing = 0; }
void swap_begin_read(uint32_t b) { blocks[b].readers++; }
void swap_end_read(uint32_t b) { blocks[b].readers--; }

/* D_NO_MEMORY is the kernel short of pages for the transfer (its bounce pages, the pages a
   read lands in): it passes as the pageout daemon frees memory, so the transfer is tried
   again, kRetries times kRetryMs apart, before it counts as failed. */
enum { kRetries = 100, kRetryMs = 10 };

static void pause_ms(mach_msg_timeout_t ms) {
  mach_msg_header_t h;
  mach_msg(&h, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, sizeof h, sleep_port, ms, MACH_PORT_NULL);
}

kern_return_t swap_write(uint32_t block, vm_offset_t data, uint32_t npages) {
  mach_msg_type_number_t size = npages * kDpPageSize;
  kern_return_t kr = D_NO_MEMORY;
  for (int i = 0; i < kRetries && kr == D_NO_MEMORY; i++) {
    if (i)
      pause_ms(kRetryMs);
    int written = 0;
    kr = device_write(device, 0, (recnum_t)block * kDpRecordsPerBlock, (io_buf_ptr_t)data, size,
                      &written);
    if (kr == D_SUCCESS && written != (int)size)
      kr = D_IO_ERROR;
  }
  return kr;
}

kern_return_t swap_read(uint32_t block, uint32_t npages, vm_offset_t *data) {
  int size = (int)(npages * kDpPageSize);
  kern_return_t kr = D_NO_MEMORY;
  for (int i = 0; i < kRetries && kr == D_NO_MEMORY; i++) {
    if (i)
      pause_ms(kRetryMs);
    io_buf_ptr_t buf = 0;
    mach_msg_type_number_t got = 0;
    kr = device_read(device, 0, (recnum_t)block * kDpRecordsPerBlock, size, &buf, &got);
    if (kr == D_SUCCESS && got != (mach_msg_type_number_t)size) {
      if (got)
        vm_deallocate(mach_task_self(), (vm_address_t)buf, got);
      kr = D_IO_ERROR;
    }
    if (kr == D_SUCCESS)
      *data = (vm_offset_t)buf;
  }
  return kr;
}
