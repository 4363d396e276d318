// Local APIC (xAPIC, memory mapped through the direct map) and the PIT, used once to calibrate.
#include "arch/x86_64/apic.h"

#include "arch/x86_64/asm.h"
#include "arch/x86_64/io.h"
#include "kern/log.h"
#include "machine/memory.h"

extern uint64_t tsc_per_us;
extern uint64_t tsc_at_boot;

namespace {

constexpr uint32_t kRegId = 0x20, kRegEoi = 0xb0, kRegSvr = 0xf0, kRegIcrLow = 0x300,
                   kRegIcrHigh = 0x310, kRegLvtTimer = 0x320, kRegInitCount = 0x380,
                   kRegCurCount = 0x390, kRegDivide = 0x3e0, kRegTpr = 0x80;
uint64_t apic_base;
uint32_t timer_ticks_per_ms;

volatile uint32_t& reg(uint32_t off) {
  return *reinterpret_cast<volatile uint32_t*>(apic_base + off);
}

void wait_icr() {
  while (reg(kRegIcrLow) & (1u << 12)) asm volatile("pause");
}

void icr(uint32_t high, uint32_t low) {
  wait_icr();
  reg(kRegIcrHigh) = high;
  reg(kRegIcrLow) = low;
  wait_icr();
}

}  // namespace

void pic_disable() {
  // Remap the legacy 8259 PICs away from the exception vectors (a spurious IRQ would otherwise
  // look like a double fault), then mask every line: the local APIC does the work.
  outb(0x20, 0x11);
  outb(0xa0, 0x11);
  outb(0x21, 0x50);
  outb(0xa1, 0x58);
  outb(0x21, 0x04);
  outb(0xa1, 0x02);
  outb(0x21, 0x01);
  outb(0xa1, 0x01);
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
}

void apic_calibrate() {
  pic_disable();
  apic_base = reinterpret_cast<uint64_t>(arch_phys_to_virt(rdmsr(MSR_APIC_BASE) & ~0xfffull));
  reg(kRegSvr) = 0x100 | kVectorSpurious;
  reg(kRegDivide) = 0x3;  // divide by 16
  reg(kRegLvtTimer) = 1u << 16;  // masked
  // PIT channel 2, one shot, 10 ms (gate through port 0x61).
  constexpr uint32_t kPitHz = 1193182;
  constexpr uint32_t count = kPitHz / 100;
  outb(0x61, (inb(0x61) & ~0x02) | 0x01);
  outb(0x43, 0xb0);
  outb(0x42, count & 0xff);
  outb(0x42, count >> 8);
  uint8_t gate = inb(0x61);
  outb(0x61, gate & ~0x01);
  outb(0x61, gate | 0x01);  // restart counting
  reg(kRegInitCount) = 0xffffffff;
  uint64_t t0 = rdtsc();
  while (!(inb(0x61) & 0x20)) {
  }
  uint64_t t1 = rdtsc();
  uint32_t elapsed = 0xffffffff - reg(kRegCurCount);
  reg(kRegInitCount) = 0;
  tsc_per_us = (t1 - t0) / 10000;
  if (tsc_per_us == 0) tsc_per_us = 1;
  timer_ticks_per_ms = elapsed / 10;
  if (!tsc_at_boot) tsc_at_boot = t0;
  klog("apic: tsc %lu MHz, timer %u ticks/ms", tsc_per_us, timer_ticks_per_ms);
}

void apic_init_cpu(unsigned hz) {
  reg(kRegTpr) = 0;
  reg(kRegSvr) = 0x100 | kVectorSpurious;
  reg(kRegDivide) = 0x3;
  reg(kRegLvtTimer) = kVectorTimer | (1u << 17);  // periodic
  reg(kRegInitCount) = timer_ticks_per_ms * 1000 / hz;
}

unsigned apic_id() { return reg(kRegId) >> 24; }

void apic_eoi() { reg(kRegEoi) = 0; }

void apic_send_ipi(unsigned id, uint8_t vector) { icr(id << 24, vector | (1u << 14)); }

void apic_send_init(unsigned id) { icr(id << 24, 0x4500); }

void apic_send_startup(unsigned id, uint8_t page) { icr(id << 24, 0x4600 | page); }

void apic_broadcast_init() { icr(0, 0xc4500); }

void apic_broadcast_startup(uint8_t page) { icr(0, 0xc4600 | page); }

void delay_us(uint64_t us) {
  uint64_t end = rdtsc() + us * tsc_per_us;
  while (rdtsc() < end) asm volatile("pause");
}
