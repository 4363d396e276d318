/* Makes a trap outside GNU Mach's trap table (-1000): an invalid instruction
   (EXC_BAD_INSTRUCTION). This task has no exception port, so the kernel must end it alone,
   with "task bad_trap terminated: invalid trap -1000"; the "still alive" line must never show.
   (An unused number inside the table, such as -7, only answers KERN_INVALID_ARGUMENT, as on
   GNU Mach: user/tests/exctest.c checks that.) */
#include <stdio.h>

int main(void) {
  long r;
  printf("bad_trap: trap -1000\n");
  __asm__ volatile("syscall" : "=a"(r) : "a"(-1000L) : "rcx", "r11", "memory");
  printf("bad_trap: still alive, trap returned %ld\n", r);
  return 0;
}
