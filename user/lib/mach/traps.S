/* The Mach trap stubs: one function per trap, made by GNU Mach's own kernel_trap macro
   (<mach/machine/syscall_sw.h>: movq $N,%rax; movq %rcx,%r10; syscall; ret), so the numbers
   and the register convention are exactly GNU Mach's. Mica's temporary traps use the same
   macro. Declarations: <mach/mach_traps.h> and <mica/traps.h>. */
#include <mach/syscall_sw.h>
#include <mica/traps.h>

kernel_trap(mica_thread_fork,MICA_TRAP_THREAD_FORK,3)
kernel_trap(mica_thread_exit,MICA_TRAP_THREAD_EXIT,0)
kernel_trap(mica_cpu_number,MICA_TRAP_CPU_NUMBER,0)
kernel_trap(mica_cpu_count,MICA_TRAP_CPU_COUNT,0)
kernel_trap(mica_thread_id,MICA_TRAP_THREAD_ID,0)

        .section .note.GNU-stack, "", %progbits
