/* Memory allocation of Mica's user runtime (malloc.c), over vm_allocate. */
#ifndef MICA_USER_MALLOC_H
#define MICA_USER_MALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Blocks are 16-byte aligned. Small requests come from size-class free lists carved out of
   64 KiB chunks of vm_allocate'd memory; requests of more than 16 KiB get their own region,
   which free() gives back with vm_deallocate. NULL when the kernel has no memory. */
void *malloc(size_t size);
void free(void *ptr);
void *calloc(size_t count, size_t size);
void *realloc(void *ptr, size_t size);

#ifdef __cplusplus
}
#endif

#endif
