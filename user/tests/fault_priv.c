/* Runs privileged instructions in ring 3. cli faults unless the kernel wrongly gave user
   space I/O privilege; hlt faults in any case. The kernel must end this task alone with a
   general protection fault; the "still alive" line must never show. */
#include <stdio.h>

int main(void) {
  printf("fault_priv: cli in ring 3\n");
  __asm__ volatile("cli");
  printf("fault_priv: still alive after cli\n");
  __asm__ volatile("hlt");
  printf("fault_priv: still alive after hlt\n");
  return 0;
}
