// The syscall instruction's way into the trap table: GNU Mach's x86-64 convention, number in
// rax, arguments in rdi, rsi, rdx, r10, r8, r9 and a seventh at 8(%rsp) on the user stack.
#include "arch/x86_64/trap.h"
#include "arch/x86_64/trap_frame.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "kern/exception.h"
#include "kern/syscall.h"
#include <mach/exception.h>
#include "lib/format.h"

extern "C" void syscall_dispatch(TrapFrame* f) {
  arch_irq_restore(0x200);
  // Only eax counts, as on GNU Mach.
  TrapArgs a{static_cast<int32_t>(f->rax), {f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9, 0}};
  if (a.number == -25 && !copyin(f->rsp + 8, &a.arg[6], 8)) a.arg[6] = 0;
  int64_t r = mach_trap(a);
  Thread* t = current_thread();
  if (r == kTrapInvalid) {
    // As GNU Mach: EXC_BAD_INSTRUCTION. A handler may fix the state (rax included) and let
    // the thread go on; without one the task ends.
    if (!exception_raise(EXC_BAD_INSTRUCTION, EXC_I386_INVOP, 0)) {
      char reason[48];
      snprintf_k(reason, sizeof reason, "invalid trap %ld", a.number);
      user_task_fatal(t, reason, f);
    }
  } else {
    f->rax = static_cast<uint64_t>(r);
  }
  arch_irq_disable();
  sched_preempt_check();
  if (t->suspend_count > 0) {
    arch_irq_restore(0x200);
    thread_check_suspend();
    arch_irq_disable();
  }
  if (t->terminate_requested) {
    arch_irq_restore(0x200);
    thread_terminate_self();
  }
}
