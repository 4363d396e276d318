// The kernel log: one line per call, prefixed with CPU number and time since boot, written
// to the console. Safe from any context; lines from different CPUs do not interleave.
#pragma once
#include <stdarg.h>

void klog(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void vklog(const char* fmt, va_list ap);
// Unprefixed console output (for user mach_print and multi-part lines).
void console_write(const char* s, unsigned long len);
