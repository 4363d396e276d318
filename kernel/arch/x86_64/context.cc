// Thread machine state: kernel stacks, the first frame of a new thread, the switch itself
// (with FPU state and the address space), and the way out to user mode.
#include "arch/x86_64/asm.h"
#include "arch/x86_64/cpu_local.h"
#include "arch/x86_64/io.h"
#include "arch/x86_64/pmap_x86.h"
#include "arch/x86_64/trap_frame.h"
#include "kern/sched.h"
#include "kern/task.h"
#include "lib/string.h"
#include "vm/vm_page.h"
#include "kern/hot.h"

extern "C" Thread* switch_stacks(uint64_t* save_rsp, uint64_t new_rsp, Thread* prev);
extern "C" void thread_trampoline();
extern "C" char boot_stack_bottom[], boot_stack_top[];

namespace {

constexpr unsigned kStackOrder = 2;  // 16 KiB kernel stacks
constexpr uint64_t kStackSize = kPageSize << kStackOrder;

// Callee-saved registers as switch_stacks pops them, then its return address.
struct SwitchFrame {
  uint64_t r15, r14, r13, r12, rbx, rbp;
  uint64_t rip;
};

[[noreturn]] void kernel_thread_start(void (*entry)(void*), void* arg) {
  entry(arg);
  thread_terminate_self();
}

bool alloc_stack(Thread* t) {
  VmPage* p = vm_page_alloc(kStackOrder);
  if (!p) return false;
  t->arch.stack_base = reinterpret_cast<uint64_t>(vm_page_to_virt(p));
  t->arch.stack_top = t->arch.stack_base + kStackSize;
  return true;
}

// Lays out a TrapFrame at the top of the stack and a SwitchFrame below it that "returns" into
// thread_trampoline, which leaves through the TrapFrame.
TrapFrame* prepare(Thread* t) {
  auto* f = reinterpret_cast<TrapFrame*>(t->arch.stack_top - sizeof(TrapFrame));
  memset(f, 0, sizeof *f);
  auto* s = reinterpret_cast<SwitchFrame*>(reinterpret_cast<uint64_t>(f) - sizeof(SwitchFrame));
  memset(s, 0, sizeof *s);
  s->rip = reinterpret_cast<uint64_t>(&thread_trampoline);
  t->arch.kernel_rsp = reinterpret_cast<uint64_t>(s);
  // A clean FPU state: default control words (x87 0x37f, MXCSR 0x1f80).
  memset(t->arch.fpu, 0, sizeof t->arch.fpu);
  t->arch.fpu[0] = 0x7f;
  t->arch.fpu[1] = 0x03;
  t->arch.fpu[24] = 0x80;
  t->arch.fpu[25] = 0x1f;
  return f;
}

}  // namespace

bool arch_thread_init_kernel(Thread* t) {
  if (!alloc_stack(t)) return false;
  TrapFrame* f = prepare(t);
  f->rip = reinterpret_cast<uint64_t>(&kernel_thread_start);
  f->rdi = reinterpret_cast<uint64_t>(t->kernel_entry);
  f->rsi = reinterpret_cast<uint64_t>(t->kernel_arg);
  f->cs = SEL_KCODE;
  f->ss = SEL_KDATA;
  f->rflags = 0x202;
  // iretq is done with the frame before the thread pushes anything, so the thread's stack
  // may start at the very top (aligned as just after a call).
  f->rsp = t->arch.stack_top - 8;
  return true;
}

bool arch_thread_init_user(Thread* t, uint64_t rip, uint64_t rsp, uint64_t arg) {
  if (!alloc_stack(t)) return false;
  TrapFrame* f = prepare(t);
  f->rip = rip;
  f->rsp = rsp;
  f->rdi = arg;
  f->cs = SEL_UCODE | SEL_RPL_USER;
  f->ss = SEL_UDATA | SEL_RPL_USER;
  f->rflags = 0x202;
  t->arch.user = true;
  t->arch.user_frame = f;
  return true;
}

void arch_thread_free(Thread* t) {
  if (t->arch.stack_base && t->arch.stack_base != reinterpret_cast<uint64_t>(boot_stack_bottom))
    vm_page_free(vm_page_from_phys(arch_virt_to_phys(reinterpret_cast<void*>(t->arch.stack_base))),
                 kStackOrder);
  t->arch.stack_base = 0;
}

void arch_thread_adopt_boot(Thread* t) {
  // The running stack becomes the thread's: the boot CPU's boot stack or an AP's start stack.
  uint64_t rsp;
  asm volatile("mov %%rsp, %0" : "=r"(rsp));
  t->arch.stack_top = (rsp + 16383) & ~16383ull;
  t->arch.stack_base = t->arch.stack_top - 16384;
  if (arch_cpu_id() == 0) {
    t->arch.stack_base = reinterpret_cast<uint64_t>(boot_stack_bottom);
    t->arch.stack_top = reinterpret_cast<uint64_t>(boot_stack_top);
  }
  this_cpu()->thread = t;
  this_cpu()->kernel_rsp = t->arch.stack_top;
}

MICA_HOT Thread* arch_context_switch(Thread* from, Thread* to) {
  CpuLocal* c = this_cpu();
  // User code cannot change its FS base itself (no WRFSBASE): it changes only through
  // thread_set_state, so the MSR is written only when the incoming value differs.
  if (from->arch.user) asm volatile("fxsave64 %0" : "=m"(from->arch.fpu));
  if (to->task && to->task->pmap) pmap_activate(to->task->pmap);
  if (to->arch.user) {
    asm volatile("fxrstor64 %0" ::"m"(to->arch.fpu));
    if (c->fs_base != to->arch.fs_base) {
      wrmsr(MSR_FS_BASE, to->arch.fs_base);
      c->fs_base = to->arch.fs_base;
    }
  }
  c->thread = to;
  c->kernel_rsp = to->arch.stack_top;
  c->tss.rsp0 = to->arch.stack_top;
  return switch_stacks(&from->arch.kernel_rsp, to->arch.kernel_rsp, from);
}

extern "C" void thread_start_finish(Thread* prev) {
  thread_switch_finish(prev);
  Thread* self = current_thread();
  if (self->arch.user && self->suspend_count > 0) {
    arch_irq_restore(0x200);
    thread_check_suspend();
    arch_irq_disable();
  }
  if (self->terminate_requested && self->arch.user) thread_terminate_self();
}

extern "C" int copy_user(void* dst, const void* src, size_t len);

MICA_HOT bool arch_copy_user(void* dst, const void* src, size_t len) { return copy_user(dst, src, len) == 0; }

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
static_assert(offsetof(Thread, arch) == 0, "entry.S finds the thread's machine state at offset 0");
#pragma GCC diagnostic pop
