/* malloc and free over vm_allocate (<malloc.h>). Each block has a 16-byte header that holds
   its size class, or the size of its own region for a large block. Small blocks come in
   power-of-two classes from 16 bytes to 16 KiB, carved from 64 KiB chunks and kept on a
   free list per class when freed; chunks are never returned. Large blocks are regions of
   their own, returned with vm_deallocate. One spinlock covers it all: this is a simple
   allocator for test and server programs, not a fast one. */
#include <mach/mach_interface.h>
#include <mach_init.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>

enum {
  kHeader = 16,
  kMinShift = 4,                  // 16 bytes
  kMaxShift = 14,                 // 16 KiB
  kClasses = kMaxShift - kMinShift + 1,
  kChunk = 64 * 1024,
  kLarge = 0xff,                  // the class of a block with a region of its own
};

struct header {
  size_t size;  // the usable size: the class's size, or the large block's
  uint32_t cls;
  uint32_t magic;
};
_Static_assert(sizeof(struct header) == kHeader, "the header keeps blocks 16-aligned");
#define MALLOC_MAGIC 0x6d616c6cu

struct free_block {
  struct free_block *next;
};

static struct free_block *free_lists[kClasses];
static char *chunk_next, *chunk_end;
static int malloc_lock;

static void lock(void) {
  while (__atomic_exchange_n(&malloc_lock, 1, __ATOMIC_ACQUIRE))
    swtch();
}

static void unlock(void) { __atomic_store_n(&malloc_lock, 0, __ATOMIC_RELEASE); }

static void *region_allocate(size_t size) {
  vm_address_t addr = 0;
  if (vm_allocate(mach_task_self(), &addr, size, TRUE) != KERN_SUCCESS)
    return NULL;
  return (void *)addr;
}

void *malloc(size_t size) {
  if (size == 0)
    size = 1;
  if (size > ((size_t)1 << kMaxShift)) {
    size_t region = (size + kHeader + vm_page_size - 1) & ~(vm_page_size - 1);
    if (region < size)
      return NULL;  // overflow
    struct header *h = region_allocate(region);
    if (h == NULL)
      return NULL;
    h->size = region - kHeader;
    h->cls = kLarge;
    h->magic = MALLOC_MAGIC;
    return (char *)h + kHeader;
  }

  unsigned cls = 0;
  while (((size_t)1 << (cls + kMinShift)) < size)
    cls++;
  size_t block = ((size_t)1 << (cls + kMinShift)) + kHeader;
  struct header *h = NULL;
  lock();
  if (free_lists[cls] != NULL) {
    h = (struct header *)free_lists[cls];
    free_lists[cls] = free_lists[cls]->next;
  } else {
    if ((size_t)(chunk_end - chunk_next) < block) {
      // The rest of the old chunk is left unused: at most one block of the largest class.
      char *chunk = region_allocate(kChunk);
      if (chunk == NULL) {
        unlock();
        return NULL;
      }
      chunk_next = chunk;
      chunk_end = chunk + kChunk;
    }
    h = (struct header *)chunk_next;
    chunk_next += block;
  }
  unlock();
  h->size = block - kHeader;
  h->cls = cls;
  h->magic = MALLOC_MAGIC;
  return (char *)h + kHeader;
}

void free(void *ptr) {
  if (ptr == NULL)
    return;
  struct header *h = (struct header *)((char *)ptr - kHeader);
  if (h->magic != MALLOC_MAGIC)
    return;  // not ours, or freed twice: leak rather than corrupt
  h->magic = 0;
  if (h->cls == kLarge) {
    vm_deallocate(mach_task_self(), (vm_address_t)h, h->size + kHeader);
    return;
  }
  unsigned cls = h->cls;
  lock();
  struct free_block *b = (struct free_block *)h;
  b->next = free_lists[cls];
  free_lists[cls] = b;
  unlock();
}

void *calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size)
    return NULL;
  void *p = malloc(count * size);
  if (p != NULL)
    memset(p, 0, count * size);
  return p;
}

void *realloc(void *ptr, size_t size) {
  if (ptr == NULL)
    return malloc(size);
  struct header *h = (struct header *)((char *)ptr - kHeader);
  if (size <= h->size)
    return ptr;
  void *q = malloc(size);
  if (q == NULL)
    return NULL;
  memcpy(q, ptr, h->size);
  free(ptr);
  return q;
}
