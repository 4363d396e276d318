// Kernel assertions and panic. A failed assertion is a kernel bug, never a user's doing.
#pragma once

[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

#define MICA_STR2(x) #x
#define MICA_STR(x) MICA_STR2(x)
#define kassert(cond)                                                           \
  do {                                                                          \
    if (__builtin_expect(!(cond), 0))                                           \
      panic("assertion failed: %s at %s:%d", #cond, __FILE__, __LINE__);       \
  } while (0)
