// The syscall instruction's way into the trap table: GNU Mach's x86-64 convention, number in
// rax, arguments in rdi, rsi, rdx, r10, r8, r9 and a seventh at 8(%rsp) on the user stack.
#include "arch/x86_64/trap.h"
#include "arch/x86_64/trap_frame.h"
#include "kern/processor.h"
#include "kern/sched.h"
#include "kern/exception.h"
#include "kern/syscall.h"
#include "ipc/mach_msg.h"
#include <mach/exception.h>
#include "lib/format.h"
#include "kern/hot.h"

extern "C" MICA_HOT void syscall_dispatch(TrapFrame* f) {
  Thread* t = current_thread();
  // Only eax counts, as on GNU Mach.
  auto number = static_cast<int32_t>(f->rax);
  int64_t r = 0;
  bool done = false;
  if (number == -25) {
    // mach_msg's fast path, before interrupts are let in (each toggle costs the emulator a
    // trip through its main loop). Its seventh argument, the notify port, is not used.
    r = mach_msg_trap_fast(f->rdi, static_cast<mach_msg_option_t>(f->rsi),
                           static_cast<mach_msg_size_t>(f->rdx),
                           static_cast<mach_msg_size_t>(f->r10),
                           static_cast<mach_port_name_t>(f->r8), &done);
  }
  if (!done) {
    arch_irq_restore(0x200);
    r = mach_trap({number, {f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9, 0}});
    if (r == kTrapInvalid) {
      // As GNU Mach: EXC_BAD_INSTRUCTION. A handler may fix the state (rax included) and
      // let the thread go on; without one the task ends.
      if (!exception_raise(EXC_BAD_INSTRUCTION, EXC_I386_INVOP, 0)) {
        char reason[48];
        snprintf_k(reason, sizeof reason, "invalid trap %d", number);
        user_task_fatal(t, reason, f);
      }
    }
    arch_irq_disable();
  }
  if (r != kTrapInvalid) f->rax = static_cast<uint64_t>(r);
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
