/* Writes through a null pointer. The kernel must end this task alone, with a
   "task fault_null terminated: page fault at 0x0" line; the second line must never show. */
#include <stdio.h>

int main(void) {
  int *p = NULL;
  printf("fault_null: writing through a null pointer\n");
  // In assembly: in C the compiler may drop a store it can prove goes through null.
  __asm__ volatile("movl $1, (%0)" : : "r"(p) : "memory");
  printf("fault_null: still alive\n");
  return 0;
}
