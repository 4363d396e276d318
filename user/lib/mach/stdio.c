/* printf and friends. The formatter writes either into a caller's buffer (snprintf) or into
   the task's console line, which goes out through mach_print at each '\n' (printf). */
#include <mach/mach_traps.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* --- The console line, shared by the task's threads. --- */

static char line[256];
static size_t line_len;
static int line_lock;

static void lock_line(void) {
  int spins = 0;
  while (__atomic_exchange_n(&line_lock, 1, __ATOMIC_ACQUIRE)) {
    __asm__ volatile("pause");
    if (++spins % 1024 == 0)
      swtch();  // the holder may be preempted on this very CPU
  }
}

static void unlock_line(void) { __atomic_store_n(&line_lock, 0, __ATOMIC_RELEASE); }

static void flush_line_locked(void) {
  if (line_len == 0)
    return;
  line[line_len] = '\0';
  mach_print(line);
  line_len = 0;
}

static void put_line_locked(char c) {
  line[line_len++] = c;
  if (c == '\n' || line_len == sizeof line - 1)
    flush_line_locked();
}

void stdout_flush(void) {
  lock_line();
  flush_line_locked();
  unlock_line();
}

/* --- The formatter. --- */

struct out {
  char *buf;   /* NULL: the console line */
  size_t size; /* of buf */
  size_t len;  /* characters produced, even those that did not fit */
};

static void put(struct out *o, char c) {
  if (!o->buf)
    put_line_locked(c);
  else if (o->len + 1 < o->size)
    o->buf[o->len] = c;
  o->len++;
}

static void pad(struct out *o, char c, int n) {
  while (n-- > 0)
    put(o, c);
}

struct spec {
  bool left, zero;
  int width, precision;
};

static void put_string(struct out *o, const char *s, const struct spec *sp) {
  if (!s)
    s = "(null)";
  size_t n = sp->precision >= 0 ? strnlen(s, (size_t)sp->precision) : strlen(s);
  if (!sp->left)
    pad(o, ' ', sp->width - (int)n);
  for (size_t i = 0; i < n; i++)
    put(o, s[i]);
  if (sp->left)
    pad(o, ' ', sp->width - (int)n);
}

static void put_number(struct out *o, uintmax_t v, unsigned base, bool upper, const char *prefix,
                       const struct spec *sp) {
  const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char digits[24];
  int n = 0;
  do {
    digits[n++] = set[v % base];
    v /= base;
  } while (v);
  int len = n + (int)strlen(prefix);
  if (!sp->left && !sp->zero)
    pad(o, ' ', sp->width - len);
  while (*prefix)
    put(o, *prefix++);
  if (!sp->left && sp->zero)
    pad(o, '0', sp->width - len);
  while (n)
    put(o, digits[--n]);
  if (sp->left)
    pad(o, ' ', sp->width - len);
}

static int parse_int(const char **fmt) {
  int v = 0;
  while (**fmt >= '0' && **fmt <= '9')
    v = v * 10 + (*(*fmt)++ - '0');
  return v;
}

static void format(struct out *o, const char *fmt, va_list ap) {
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      put(o, *fmt);
      continue;
    }
    fmt++;
    struct spec sp = {false, false, 0, -1};
    for (;; fmt++) {
      if (*fmt == '-')
        sp.left = true;
      else if (*fmt == '0')
        sp.zero = true;
      else
        break;
    }
    if (*fmt == '*') {
      sp.width = va_arg(ap, int);
      fmt++;
    } else {
      sp.width = parse_int(&fmt);
    }
    if (sp.width < 0) {
      sp.left = true;
      sp.width = -sp.width;
    }
    if (*fmt == '.') {
      fmt++;
      if (*fmt == '*') {
        sp.precision = va_arg(ap, int);
        fmt++;
      } else {
        sp.precision = parse_int(&fmt);
      }
    }
    int size = 0;  // -2 char, -1 short, 0 int, 1 long, 2 long long
    for (;; fmt++) {
      if (*fmt == 'l')
        size++;
      else if (*fmt == 'h')
        size--;
      else if (*fmt == 'z' || *fmt == 'j' || *fmt == 't')
        size = 1;
      else
        break;
    }
    switch (*fmt) {
    case 'd':
    case 'i': {
      intmax_t v = size >= 2 ? va_arg(ap, long long) : size == 1 ? va_arg(ap, long) : va_arg(ap, int);
      if (size == -1)
        v = (short)v;
      else if (size <= -2)
        v = (signed char)v;
      put_number(o, v < 0 ? -(uintmax_t)v : (uintmax_t)v, 10, false, v < 0 ? "-" : "", &sp);
      break;
    }
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      uintmax_t v = size >= 2   ? va_arg(ap, unsigned long long)
                    : size == 1 ? va_arg(ap, unsigned long)
                                : va_arg(ap, unsigned int);
      if (size == -1)
        v = (unsigned short)v;
      else if (size <= -2)
        v = (unsigned char)v;
      unsigned base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;
      put_number(o, v, base, *fmt == 'X', "", &sp);
      break;
    }
    case 'p':
      put_number(o, (uintptr_t)va_arg(ap, void *), 16, false, "0x", &sp);
      break;
    case 's':
      put_string(o, va_arg(ap, const char *), &sp);
      break;
    case 'c':
      if (!sp.left)
        pad(o, ' ', sp.width - 1);
      put(o, (char)va_arg(ap, int));
      if (sp.left)
        pad(o, ' ', sp.width - 1);
      break;
    case '%':
      put(o, '%');
      break;
    case '\0':  // a lone '%' at the end
      return;
    default:  // unknown conversion: print it as it was written
      put(o, '%');
      put(o, *fmt);
    }
  }
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  char dummy;
  struct out o = {size ? buf : &dummy, size, 0};
  format(&o, fmt, ap);
  if (size)
    buf[o.len < size ? o.len : size - 1] = '\0';
  return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

int vprintf(const char *fmt, va_list ap) {
  struct out o = {NULL, 0, 0};
  lock_line();
  format(&o, fmt, ap);
  unlock_line();
  return (int)o.len;
}

int printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vprintf(fmt, ap);
  va_end(ap);
  return n;
}

int puts(const char *s) { return printf("%s\n", s); }

int putchar(int c) {
  lock_line();
  put_line_locked((char)c);
  unlock_line();
  return (unsigned char)c;
}
