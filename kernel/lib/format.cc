#include "lib/format.h"

#include <stdint.h>

namespace {

void put_number(FormatSink sink, void* ctx, uint64_t v, unsigned base, bool upper, int width,
                char pad, bool negative) {
  char digits[24];
  int n = 0;
  const char* set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    digits[n++] = set[v % base];
    v /= base;
  } while (v);
  int len = n + (negative ? 1 : 0);
  if (negative && pad == '0') sink(ctx, '-');
  for (; len < width; ++len) sink(ctx, pad);
  if (negative && pad != '0') sink(ctx, '-');
  while (n) sink(ctx, digits[--n]);
}

}  // namespace

void format(FormatSink sink, void* ctx, const char* fmt, va_list ap) {
  for (; *fmt; ++fmt) {
    if (*fmt != '%') {
      sink(ctx, *fmt);
      continue;
    }
    ++fmt;
    char pad = ' ';
    int width = 0;
    bool left = false;
    if (*fmt == '-') left = true, ++fmt;
    if (*fmt == '0') pad = '0', ++fmt;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    int longs = 0;
    while (*fmt == 'l' || *fmt == 'z') ++longs, ++fmt;
    switch (*fmt) {
      case 'd':
      case 'i': {
        int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
        put_number(sink, ctx, v < 0 ? -static_cast<uint64_t>(v) : v, 10, false, width, pad, v < 0);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
        put_number(sink, ctx, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', width, pad, false);
        break;
      }
      case 'p':
        sink(ctx, '0');
        sink(ctx, 'x');
        put_number(sink, ctx, reinterpret_cast<uintptr_t>(va_arg(ap, void*)), 16, false, 16, '0',
                   false);
        break;
      case 's': {
        const char* s = va_arg(ap, const char*);
        if (!s) s = "(null)";
        int len = 0;
        while (s[len]) ++len;
        if (!left)
          for (int i = len; i < width; ++i) sink(ctx, ' ');
        for (int i = 0; i < len; ++i) sink(ctx, s[i]);
        if (left)
          for (int i = len; i < width; ++i) sink(ctx, ' ');
        break;
      }
      case 'c':
        sink(ctx, static_cast<char>(va_arg(ap, int)));
        break;
      case '%':
        sink(ctx, '%');
        break;
      case '\0':
        return;
      default:
        sink(ctx, '%');
        sink(ctx, *fmt);
    }
  }
}

namespace {
struct Buffer {
  char* p;
  size_t left;
  size_t total;
};
void buffer_sink(void* ctx, char c) {
  auto* b = static_cast<Buffer*>(ctx);
  if (b->left > 1) {
    *b->p++ = c;
    --b->left;
  }
  ++b->total;
}
}  // namespace

int snprintf_k(char* buf, size_t size, const char* fmt, ...) {
  Buffer b{buf, size, 0};
  va_list ap;
  va_start(ap, fmt);
  format(buffer_sink, &b, fmt, ap);
  va_end(ap);
  if (size) *b.p = '\0';
  return static_cast<int>(b.total);
}
