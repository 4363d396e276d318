/* crt0 of a Mach program, and the first code of threads made by mica_thread_start().
   The kernel starts a boot module as GNU Mach does: at entry %rsp points at argc (8 bytes),
   then the argv pointers and a NULL, then the envp pointers and a NULL. */
#include <mach/machine/asm.h>

        .text
ENTRY(_start)
        xorl    %ebp, %ebp              /* outermost frame, for debuggers */
        movq    (%rsp), %r12            /* argc */
        leaq    8(%rsp), %r13           /* argv */
        leaq    16(%rsp,%r12,8), %r14   /* envp: past argv's NULL */
        andq    $-16, %rsp              /* the ABI wants %rsp 16-aligned at each call */
        call    _mach_init              /* constructors (.init_array) */
        movl    %r12d, %edi
        movq    %r13, %rsi
        movq    %r14, %rdx
        call    main
        movl    %eax, %edi
        call    exit                    /* flushes output, syscall_task_terminate(mach_task_self()) */
        ud2                             /* not reached; if it were, the fault ends the task */
END(_start)

/* A thread from mica_thread_start() begins here with %rdi pointing at {fn, arg}, stored just
   above its stack top. Call fn(arg) on an aligned stack, then end the thread. */
ENTRY(_mica_thread_entry)
        xorl    %ebp, %ebp
        movq    (%rdi), %rax
        movq    8(%rdi), %rdi
        andq    $-16, %rsp
        call    *%rax
        call    mica_thread_exit
        ud2
END(_mica_thread_entry)

        .section .note.GNU-stack, "", %progbits
