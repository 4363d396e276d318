/* Process functions of Mica's user runtime (stdlib.c). */
#ifndef MICA_USER_STDLIB_H
#define MICA_USER_STDLIB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Flushes the output, then ends the task (syscall_task_terminate(mach_task_self())). The
   status is not passed on: Mach has no exit status. */
void exit(int status) __attribute__((noreturn));
void abort(void) __attribute__((noreturn));

unsigned long strtoul(const char *s, char **end, int base);
long strtol(const char *s, char **end, int base);
int atoi(const char *s);

#ifdef __cplusplus
}
#endif

#endif
