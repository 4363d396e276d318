/* Makes a trap the kernel does not have (-7). The kernel must end this task alone, with
   "task bad_trap terminated: invalid trap -7"; the "still alive" line must never show. */
#include <stdio.h>

int main(void) {
  long r;
  printf("bad_trap: trap -7\n");
  __asm__ volatile("syscall" : "=a"(r) : "a"(-7L) : "rcx", "r11", "memory");
  printf("bad_trap: still alive, trap returned %ld\n", r);
  return 0;
}
