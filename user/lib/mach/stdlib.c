/* Start-up and exit of a Mach program, and number parsing. */
#include <mach/mach_traps.h>
#include <stdio.h>
#include <stdlib.h>

/* From the linker's default script: the constructors of C++ and of
   __attribute__((constructor)) functions. */
typedef void (*init_fn)(void);
extern init_fn __init_array_start[] __attribute__((weak, visibility("hidden")));
extern init_fn __init_array_end[] __attribute__((weak, visibility("hidden")));

/* Called by _start before main. */
void _mach_init(void) {
  for (init_fn *f = __init_array_start; f < __init_array_end; f++)
    (*f)();
}

void exit(int status) {
  (void)status;
  stdout_flush();
  syscall_task_terminate(mach_task_self());
  for (;;)  // the kernel did not end the task: fault, which it must act on
    __asm__ volatile("ud2");
}

void abort(void) {
  printf("abort\n");
  exit(1);
}

static int digit_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z')
    return c - 'A' + 10;
  return 99;
}

unsigned long strtoul(const char *s, char **end, int base) {
  while (*s == ' ' || *s == '\t')
    s++;
  if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') &&
      digit_value(s[2]) < 16) {
    s += 2;
    base = 16;
  } else if (base == 0) {
    base = s[0] == '0' ? 8 : 10;
  }
  unsigned long v = 0;
  for (; digit_value(*s) < base; s++)
    v = v * (unsigned long)base + (unsigned long)digit_value(*s);
  if (end)
    *end = (char *)s;
  return v;
}

long strtol(const char *s, char **end, int base) {
  while (*s == ' ' || *s == '\t')
    s++;
  if (*s == '-')
    return -(long)strtoul(s + 1, end, base);
  if (*s == '+')
    s++;
  return (long)strtoul(s, end, base);
}

int atoi(const char *s) { return (int)strtol(s, NULL, 10); }
