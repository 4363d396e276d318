// GDT and TSS (one each per CPU), the IDT (shared), and the syscall MSRs.
#include "arch/x86_64/asm.h"
#include "arch/x86_64/cpu_local.h"
#include "arch/x86_64/io.h"
#include "lib/string.h"

extern "C" const uint64_t isr_table[256];
extern "C" void syscall_entry();

namespace {

struct IdtEntry {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
} __attribute__((packed));
static_assert(sizeof(IdtEntry) == 16);

struct DescriptorPointer {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

IdtEntry idt[256];

// Separate stacks for the double fault and NMI, so that a kernel stack overflow is reported.
alignas(16) uint8_t ist_stacks[kMaxCpus][2][4096];

void set_gate(unsigned vec, uint64_t handler, uint8_t ist, uint8_t dpl) {
  idt[vec] = IdtEntry{static_cast<uint16_t>(handler), SEL_KCODE, ist,
                      static_cast<uint8_t>(0x8e | (dpl << 5)), static_cast<uint16_t>(handler >> 16),
                      static_cast<uint32_t>(handler >> 32), 0};
}

}  // namespace

void idt_init() {
  for (unsigned v = 0; v < 256; ++v) set_gate(v, isr_table[v], 0, 0);
  set_gate(2, isr_table[2], 2, 0);  // NMI
  // int3 and into are instructions user code may execute: their gates are open to ring 3.
  set_gate(3, isr_table[3], 0, 3);
  set_gate(4, isr_table[4], 0, 3);
  set_gate(8, isr_table[8], 1, 0);  // double fault
}

void idt_load() {
  DescriptorPointer p{sizeof idt - 1, reinterpret_cast<uint64_t>(idt)};
  asm volatile("lidt %0" ::"m"(p));
}

void cpu_init(unsigned id) {
  CpuLocal& c = cpu_locals[id];
  c.self = &c;
  c.id = id;
  c.gdt[0] = 0;
  c.gdt[SEL_KCODE / 8] = 0x00af9a000000ffff;
  c.gdt[SEL_KDATA / 8] = 0x00cf92000000ffff;
  c.gdt[SEL_UCODE32 / 8] = 0x00cffa000000ffff;
  c.gdt[SEL_UDATA / 8] = 0x00cff2000000ffff;
  c.gdt[SEL_UCODE / 8] = 0x00affa000000ffff;
  memset(&c.tss, 0, sizeof c.tss);
  c.tss.ist[0] = reinterpret_cast<uint64_t>(&ist_stacks[id][0][4096]);
  c.tss.ist[1] = reinterpret_cast<uint64_t>(&ist_stacks[id][1][4096]);
  c.tss.iomap_base = sizeof(Tss);  // no I/O permission bitmap: user port I/O faults
  uint64_t base = reinterpret_cast<uint64_t>(&c.tss);
  uint64_t limit = sizeof(Tss) - 1;
  c.gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
                       (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
  c.gdt[SEL_TSS / 8 + 1] = base >> 32;

  DescriptorPointer gp{sizeof c.gdt - 1, reinterpret_cast<uint64_t>(c.gdt)};
  asm volatile(
      "lgdt %0\n"
      "pushq %1\n"
      "leaq 1f(%%rip), %%rax\n"
      "pushq %%rax\n"
      "lretq\n"
      "1:\n"
      "movw %w2, %%ax\n"
      "movw %%ax, %%ds\n"
      "movw %%ax, %%es\n"
      "movw %%ax, %%ss\n"
      "xorl %%eax, %%eax\n"
      "movw %%ax, %%fs\n"
      "movw %%ax, %%gs\n"
      "ltr %w3\n"
      :
      : "m"(gp), "i"(SEL_KCODE), "r"(SEL_KDATA), "r"(SEL_TSS)
      : "rax", "memory");
  wrmsr(MSR_GS_BASE, reinterpret_cast<uint64_t>(&c));
  wrmsr(MSR_KERNEL_GS_BASE, 0);
  idt_load();
  syscall_init_cpu();
  fpu_init_cpu();
}

void syscall_init_cpu() {
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE | EFER_NXE);
  // syscall: CS = SEL_KCODE, SS = +8; sysret: CS = SEL_UCODE32 + 16, SS = SEL_UCODE32 + 8.
  wrmsr(MSR_STAR, (static_cast<uint64_t>(SEL_UCODE32 | 3) << 48) |
                      (static_cast<uint64_t>(SEL_KCODE) << 32));
  wrmsr(MSR_LSTAR, reinterpret_cast<uint64_t>(&syscall_entry));
  wrmsr(MSR_FMASK, 0x47700);  // IF, TF, DF, AC, NT cleared on entry
}
