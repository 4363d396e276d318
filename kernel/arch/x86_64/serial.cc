// The console: the first 16550 UART (COM1), polled. QEMU's -nographic connects it to stdio.
#include "arch/x86_64/serial.h"

#include "arch/x86_64/io.h"
#include "machine/console.h"

namespace {
constexpr uint16_t kCom1 = 0x3f8;
}

void serial_init() {
  outb(kCom1 + 1, 0x00);  // no interrupts
  outb(kCom1 + 3, 0x80);  // DLAB
  outb(kCom1 + 0, 0x01);  // 115200 baud
  outb(kCom1 + 1, 0x00);
  outb(kCom1 + 3, 0x03);  // 8N1
  outb(kCom1 + 2, 0xc7);  // FIFO on
  outb(kCom1 + 4, 0x03);
}

void serial_putc(char c) {
  if (c == '\n') serial_putc('\r');
  for (int spin = 0; spin < 100000 && !(inb(kCom1 + 5) & 0x20); ++spin) {
  }
  outb(kCom1, static_cast<uint8_t>(c));
}
void arch_console_putc(char c) { serial_putc(c); }
