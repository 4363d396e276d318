// printf-style formatting into a sink, shared by the kernel log and panic().
// Supports %d %i %u %x %X %p %s %c %% with the l, ll, z flags, width and '0' padding.
#pragma once
#include <stdarg.h>
#include <stddef.h>

using FormatSink = void (*)(void* ctx, char c);

void format(FormatSink sink, void* ctx, const char* fmt, va_list ap);
int snprintf_k(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
