// thread_get_state / thread_set_state on x86-64: the user registers live in the TrapFrame at
// the top of the thread's kernel stack. Read while the thread runs, they may be stale, as Mach
// allows; a new state takes effect when the thread next returns to user mode.
#include <mach/kern_return.h>
#include <mach/thread_status.h>

#include "arch/x86_64/asm.h"
#include "arch/x86_64/cpu_local.h"
#include "arch/x86_64/io.h"
#include "arch/x86_64/trap_frame.h"
#include "kern/thread.h"
#include "lib/string.h"

namespace {

bool canonical_user(uint64_t va) { return va < 0x0000800000000000ull; }

}  // namespace

int arch_thread_get_state(Thread* t, int flavor, uint32_t* state, uint32_t* count) {
  TrapFrame* f = t->arch.user_frame;
  switch (flavor) {
    case i386_THREAD_STATE:
    case i386_REGS_SEGS_STATE: {
      if (*count < i386_THREAD_STATE_COUNT) return KERN_INVALID_ARGUMENT;
      i386_thread_state s{};
      s.r8 = f->r8, s.r9 = f->r9, s.r10 = f->r10, s.r11 = f->r11;
      s.r12 = f->r12, s.r13 = f->r13, s.r14 = f->r14, s.r15 = f->r15;
      s.rdi = f->rdi, s.rsi = f->rsi, s.rbp = f->rbp, s.rsp = f->rsp;
      s.rbx = f->rbx, s.rdx = f->rdx, s.rcx = f->rcx, s.rax = f->rax;
      s.rip = f->rip;
      s.cs = static_cast<unsigned>(f->cs);
      s.rfl = f->rflags;
      s.ursp = f->rsp;
      s.ss = static_cast<unsigned>(f->ss);
      memcpy(state, &s, sizeof s);
      *count = i386_THREAD_STATE_COUNT;
      return KERN_SUCCESS;
    }
    case i386_FSGS_BASE_STATE: {
      if (*count < i386_FSGS_BASE_STATE_COUNT) return KERN_INVALID_ARGUMENT;
      i386_fsgs_base_state s{t->arch.fs_base, 0};
      memcpy(state, &s, sizeof s);
      *count = i386_FSGS_BASE_STATE_COUNT;
      return KERN_SUCCESS;
    }
    default:
      return KERN_INVALID_ARGUMENT;
  }
}

int arch_thread_set_state(Thread* t, int flavor, const uint32_t* state, uint32_t count) {
  TrapFrame* f = t->arch.user_frame;
  switch (flavor) {
    case i386_THREAD_STATE:
    case i386_REGS_SEGS_STATE: {
      if (count < i386_THREAD_STATE_COUNT) return KERN_INVALID_ARGUMENT;
      i386_thread_state s;
      memcpy(&s, state, sizeof s);
      // iretq to a non-canonical rip would fault in the kernel: refuse it here.
      if (!canonical_user(s.rip) || !canonical_user(s.ursp)) return KERN_FAILURE;
      f->r8 = s.r8, f->r9 = s.r9, f->r10 = s.r10, f->r11 = s.r11;
      f->r12 = s.r12, f->r13 = s.r13, f->r14 = s.r14, f->r15 = s.r15;
      f->rdi = s.rdi, f->rsi = s.rsi, f->rbp = s.rbp;
      f->rbx = s.rbx, f->rdx = s.rdx, f->rcx = s.rcx, f->rax = s.rax;
      f->rip = s.rip;
      f->rsp = s.ursp ? s.ursp : s.rsp;
      // Only user selectors and harmless flags: the user cannot ask for ring 0 or IOPL.
      f->cs = SEL_UCODE | SEL_RPL_USER;
      f->ss = SEL_UDATA | SEL_RPL_USER;
      f->rflags = (s.rfl & 0x0cd5) | 0x202;  // CF PF AF ZF SF TF DF OF, IF on
      return KERN_SUCCESS;
    }
    case i386_FSGS_BASE_STATE: {
      if (count < i386_FSGS_BASE_STATE_COUNT) return KERN_INVALID_ARGUMENT;
      i386_fsgs_base_state s;
      memcpy(&s, state, sizeof s);
      if (!canonical_user(s.fs_base)) return KERN_FAILURE;
      t->arch.fs_base = s.fs_base;
      if (t == this_cpu()->thread) {  // the running thread: its base takes effect now
        wrmsr(MSR_FS_BASE, s.fs_base);
        this_cpu()->fs_base = s.fs_base;
      }
      return KERN_SUCCESS;
    }
    default:
      return KERN_INVALID_ARGUMENT;
  }
}
