// Interrupts and exceptions. A fault in user mode ends the faulting task with a console message
// (until exceptions are messages, IPC issue); a fault in kernel mode is a kernel bug: panic.
#include "arch/x86_64/apic.h"
#include "arch/x86_64/cpu_local.h"
#include "arch/x86_64/io.h"
#include "arch/x86_64/pmap_x86.h"
#include "arch/x86_64/trap_frame.h"
#include "device/interrupt.h"
#include "kern/log.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "kern/task.h"
#include "lib/format.h"
#include "machine/pmap.h"
#include "vm/vm_fault.h"
#include "kern/exception.h"
#include <mach/exception.h>
#include "machine/backtrace.h"
#include "arch/x86_64/trap.h"

extern "C" const uint64_t __ksyms_start[];

namespace {

const char* const kExceptionNames[32] = {
    "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range", "invalid opcode",
    "device not available", "double fault", "coprocessor overrun", "invalid TSS",
    "segment not present", "stack fault", "general protection", "page fault", "reserved",
    "x87 error", "alignment check", "machine check", "SIMD error", "virtualization",
    "control protection", "reserved", "reserved", "reserved", "reserved", "reserved",
    "reserved", "hypervisor injection", "VMM communication", "security", "reserved"};

void dump_frame(const TrapFrame* f) {
  klog("  rip %016lx cs %lx rflags %lx rsp %016lx ss %lx err %lx", f->rip, f->cs, f->rflags, f->rsp,
       f->ss, f->error);
  klog("  rax %016lx rbx %016lx rcx %016lx rdx %016lx", f->rax, f->rbx, f->rcx, f->rdx);
  klog("  rsi %016lx rdi %016lx rbp %016lx r8  %016lx", f->rsi, f->rdi, f->rbp, f->r8);
  klog("  r9  %016lx r10 %016lx r11 %016lx r12 %016lx", f->r9, f->r10, f->r11, f->r12);
  Thread* t = current_thread();
  uint64_t cr2 = f->from_user() && t ? t->arch.fault_addr : read_cr2();
  klog("  r13 %016lx r14 %016lx r15 %016lx cr2 %016lx", f->r13, f->r14, f->r15, cr2);
}

const char* symbolize(uint64_t addr, char* buf, size_t size);
[[noreturn]] void kernel_fault(TrapFrame* f) {
  klog("kernel trap %lu (%s) on cpu %u", f->vector,
       f->vector < 32 ? kExceptionNames[f->vector] : "?", arch_cpu_id());
  dump_frame(f);
  char at[160];
  klog("  at %s", symbolize(f->rip, at, sizeof at));
  arch_backtrace(reinterpret_cast<const void*>(f->rbp));
  panic("unhandled kernel trap %lu at %lx", f->vector, f->rip);
}

// Mach's names for the x86 exceptions a user thread can cause (mach/x86_64/exception.h).
struct MachException {
  int exception;
  int code;
};
MachException mach_exception(uint64_t vector) {
  switch (vector) {
    case 0: return {EXC_ARITHMETIC, EXC_I386_DIV};
    case 1: return {EXC_BREAKPOINT, EXC_I386_SGL};
    case 3: return {EXC_BREAKPOINT, EXC_I386_BPT};
    case 4: return {EXC_ARITHMETIC, EXC_I386_INTO};
    case 5: return {EXC_ARITHMETIC, EXC_I386_BOUND};
    case 6: return {EXC_BAD_INSTRUCTION, EXC_I386_INVOP};
    case 7: return {EXC_ARITHMETIC, EXC_I386_NOEXT};
    case 16: return {EXC_ARITHMETIC, EXC_I386_EXTERR};
    case 19: return {EXC_ARITHMETIC, EXC_I386_EXTERR};
    default: return {EXC_BAD_INSTRUCTION, static_cast<int>(vector)};  // GP, stack, segment...
  }
}

// A user fault goes to the thread's exception handler; without one (or if the handler
// refuses it), the task ends.
void user_fault(TrapFrame* f, kern_return_t fault_kr) {
  Thread* t = current_thread();
  bool handled;
  if (f->vector == 14) {
    // A user access to the kernel half never reaches the VM system: GNU Mach reports the
    // trap number as the code.
    uint64_t addr = t->arch.fault_addr;
    int code = addr >= kUserEnd ? EXC_I386_PGFLT : fault_kr;
    handled = exception_raise(EXC_BAD_ACCESS, code, static_cast<int64_t>(addr));
  } else {
    MachException e = mach_exception(f->vector);
    handled = exception_raise(e.exception, e.code, static_cast<int64_t>(f->error));
  }
  if (handled) return;
  char reason[64];
  if (f->vector == 14)
    snprintf_k(reason, sizeof reason, "page fault at 0x%lx (vm_fault: 0x%x)", t->arch.fault_addr,
               fault_kr);
  else
    snprintf_k(reason, sizeof reason, "%s", kExceptionNames[f->vector]);
  user_task_fatal(t, reason, f);
}

// A user page fault is the VM system's business (seed 002, 5.5): resolved, the thread goes on.
kern_return_t user_page_fault(TrapFrame* f) {
  Thread* t = current_thread();
  uint64_t addr = t->arch.fault_addr;
  if (!t->task->map || addr >= kUserEnd) return KERN_INVALID_ADDRESS;
  vm_prot_t type = (f->error & 2) ? VM_PROT_WRITE : VM_PROT_READ;
  if (f->error & 16) type |= VM_PROT_EXECUTE;
  return vm_fault(t->task->map, trunc_page(addr), type);
}

}  // namespace

void user_task_fatal(Thread* t, const char* reason, const TrapFrame* f) {
  klog("task %s terminated: %s (thread %lu, rip %lx)", t->task->name, reason, t->id, f->rip);
  dump_frame(f);
  task_terminate_internal(t->task);
}

extern "C" void trap_dispatch(TrapFrame* f) {
  uint64_t v = f->vector;
  if (v == 14 && !f->from_user()) {
    // The kernel touching the current task's memory (copy_user): a fault there is the task's
    // page fault; if it cannot be resolved the copy fails instead of the kernel.
    Thread* t = current_thread();
    uint64_t addr = read_cr2();
    if (t && t->arch.fault_recover && addr < kUserEnd) {
      if (f->rflags & 0x200) arch_irq_restore(0x200);
      vm_prot_t type = (f->error & 2) ? VM_PROT_WRITE : VM_PROT_READ;
      bool ok = t->task->map && vm_fault(t->task->map, trunc_page(addr), type) == KERN_SUCCESS;
      arch_irq_disable();
      if (!ok) f->rip = t->arch.fault_recover;
      return;
    }
  }
  if (v < 32) {
    if (!f->from_user() || v == 8 || v == 18) kernel_fault(f);
    if (v == 14) current_thread()->arch.fault_addr = read_cr2();  // interrupts still off
    arch_irq_restore(0x200);
    kern_return_t kr = KERN_SUCCESS;
    if (v == 14 && (kr = user_page_fault(f)) == KERN_SUCCESS) {
      arch_irq_disable();
      return;
    }
    // A fault given up because the thread is told to end raises no exception: the thread
    // ends below.
    if (kr != KERN_ABORTED) user_fault(f, kr);
  } else if (v == kVectorTimer) {
    apic_eoi();
    sched_tick();
  } else if (v == kVectorReschedule) {
    apic_eoi();
    current_processor()->need_resched = true;
  } else if (v == kVectorTlb) {
    tlb_shootdown_interrupt();
    apic_eoi();
  } else if (v == kVectorStop) {
    this_cpu()->stopped = true;
    arch_halt();
  } else if (v == kVectorSpurious) {
    return;
  } else if (v >= kVectorDeviceFirst && v < kVectorDeviceFirst + kVectorDeviceCount) {
    device_interrupt(static_cast<uint8_t>(v));
    apic_eoi();
  } else {
    apic_eoi();
    klog("unexpected interrupt %lu", v);
  }
  // Preempt only code that had interrupts on: it holds no spinlock.
  if (f->rflags & 0x200) {
    sched_preempt_check();
    Thread* t = current_thread();
    if (f->from_user() && t->suspend_count > 0) {
      arch_irq_restore(0x200);
      thread_check_suspend();
      arch_irq_disable();
    }
    if (f->from_user() && t->terminate_requested) {
      arch_irq_restore(0x200);
      thread_terminate_self();
    }
  }
}

namespace {
// "name+0xoff" for a kernel text address, from the table tools/gen-ksyms.sh generates:
// (address, name offset) pairs sorted by address, a zero pair, then the names.
const char* symbolize(uint64_t addr, char* buf, size_t size) {
  const uint64_t* s = __ksyms_start;
  size_t n = 0;
  while (s[2 * n]) ++n;
  const char* names = reinterpret_cast<const char*>(&s[2 * n + 2]);
  size_t best = n;
  for (size_t i = 0; i < n && s[2 * i] <= addr; ++i) best = i;
  if (best == n)
    snprintf_k(buf, size, "%016lx", addr);
  else
    snprintf_k(buf, size, "%016lx %s+0x%lx", addr, names + s[2 * best + 1], addr - s[2 * best]);
  return buf;
}
}  // namespace

void arch_backtrace(const void* frame) {
  auto* fp = static_cast<const uint64_t*>(frame);
  for (int depth = 0; fp && depth < 24; ++depth) {
    auto addr = reinterpret_cast<uint64_t>(fp);
    if (addr < 0xffff800000000000ull || (addr & 7) || !fp[1]) break;
    char buf[160];
    klog("  #%d %s", depth, symbolize(fp[1], buf, sizeof buf));
    fp = reinterpret_cast<const uint64_t*>(fp[0]);
  }
}
