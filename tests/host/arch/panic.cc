// panic() on the host: print to stderr and abort, so gtest death tests can match the text
// of a failed kassert.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "kern/assert.h"

void panic(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("panic: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  fflush(stderr);
  va_end(ap);
  abort();
}
