// Kernel log and panic. A line is formatted into a buffer first, then written whole under the
// console lock, so lines from different CPUs never interleave.
#include "kern/log.h"

#include "kern/assert.h"
#include "kern/lock.h"
#include "lib/format.h"
#include "machine/backtrace.h"
#include "machine/console.h"
#include "machine/cpu.h"

namespace {

SpinLock console_lock;
volatile bool panicking = false;

struct Line {
  char buf[256];
  unsigned len = 0;
};

void line_sink(void* ctx, char c) {
  auto* l = static_cast<Line*>(ctx);
  if (l->len < sizeof l->buf - 1) l->buf[l->len++] = c;
}

void line_format(Line& l, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  format(line_sink, &l, fmt, ap);
  va_end(ap);
}

void emit(const Line& l) {
  IrqSpinGuard g(console_lock);
  for (unsigned i = 0; i < l.len; ++i) arch_console_putc(l.buf[i]);
}

void prefix(Line& l) {
  uint64_t ns = arch_time_ns();
  line_format(l, "[%u %lu.%06lu] ", arch_cpu_id(), ns / 1000000000, (ns / 1000) % 1000000);
}

}  // namespace

void vklog(const char* fmt, va_list ap) {
  Line l;
  prefix(l);
  format(line_sink, &l, fmt, ap);
  if (l.len == 0 || l.buf[l.len - 1] != '\n') l.buf[l.len++] = '\n';
  emit(l);
}

void klog(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vklog(fmt, ap);
  va_end(ap);
}

void console_write(const char* s, unsigned long len) {
  IrqSpinGuard g(console_lock);
  for (unsigned long i = 0; i < len; ++i) arch_console_putc(s[i]);
}

void panic(const char* fmt, ...) {
  arch_irq_disable();
  if (__atomic_exchange_n(&panicking, true, __ATOMIC_SEQ_CST)) arch_halt();  // one report only
  arch_stop_other_cpus();
  Line l;
  prefix(l);
  line_format(l, "panic: ");
  va_list ap;
  va_start(ap, fmt);
  format(line_sink, &l, fmt, ap);
  va_end(ap);
  l.buf[l.len++] = '\n';
  console_lock.reset();  // another CPU may have stopped holding it
  emit(l);
  arch_backtrace(__builtin_frame_address(0));
  arch_panic_exit();
}
