#pragma once
#include <mach/message.h>
#include <stdint.h>

// The mach_msg trap for the current thread; `msg` is the user address of the message buffer.
mach_msg_return_t mach_msg(uint64_t msg, mach_msg_option_t option, mach_msg_size_t send_size,
                           mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
                           mach_msg_timeout_t timeout, mach_port_name_t notify);

// The trap's fast path (ipc/ipc_fastpath.h), tried first by the syscall entry, with
// interrupts still off: *handled tells whether it did the whole call (and returned its
// result); if not, nothing was done and mach_msg does the call.
mach_msg_return_t mach_msg_trap_fast(uint64_t msg, mach_msg_option_t option,
                                     mach_msg_size_t send_size, mach_msg_size_t rcv_size,
                                     mach_port_name_t rcv_name, bool* handled);
