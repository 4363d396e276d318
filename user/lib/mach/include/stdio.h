/* Console output of Mica's user runtime (stdio.c). There are no FILEs: everything goes to
   the console through the mach_print trap, one whole line at a time. The line buffer is
   shared by the task's threads and locked, so lines from different threads do not mix. */
#ifndef MICA_USER_STDIO_H
#define MICA_USER_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Formats: %d %i %u %x %X %o %p %s %c %%, flags '-' '0', a width (or *), a precision for
   %s, length modifiers hh h l ll z j t. */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int puts(const char *s);
int putchar(int c);

/* Prints what is buffered, even without a '\n'. exit() calls it. */
void stdout_flush(void);

#ifdef __cplusplus
}
#endif

#endif
