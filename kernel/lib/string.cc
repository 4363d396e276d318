// The few C library routines the compiler may call on its own, for a freestanding kernel.
#include "lib/string.h"

#include <stdint.h>

extern "C" {

// String instructions: 8 bytes a step for the bulk, then the tail by bytes. (QEMU's TCG
// runs rep movsb/stosb a byte at a time: a 4 KiB page takes 8 times longer than with the
// q forms, measured in docs/benchmarks.md.)
void* memcpy(void* dst, const void* src, size_t n) {
  void* d = dst;
  size_t q = n / 8, r = n % 8;
  asm volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(q) : : "memory");
  asm volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(r) : : "memory");
  return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
  auto* d = static_cast<unsigned char*>(dst);
  auto* s = static_cast<const unsigned char*>(src);
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

void* memset(void* dst, int c, size_t n) {
  void* d = dst;
  uint64_t pattern = 0x0101010101010101ull * static_cast<unsigned char>(c);
  size_t q = n / 8, r = n % 8;
  asm volatile("rep stosq" : "+D"(d), "+c"(q) : "a"(pattern) : "memory");
  asm volatile("rep stosb" : "+D"(d), "+c"(r) : "a"(pattern) : "memory");
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  auto* x = static_cast<const unsigned char*>(a);
  auto* y = static_cast<const unsigned char*>(b);
  for (; n; --n, ++x, ++y)
    if (*x != *y) return *x < *y ? -1 : 1;
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

int strcmp(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
}

int strncmp(const char* a, const char* b, size_t n) {
  for (; n; --n, ++a, ++b) {
    if (*a != *b) return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
    if (!*a) return 0;
  }
  return 0;
}

}  // extern "C"
