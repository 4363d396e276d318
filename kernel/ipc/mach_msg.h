#pragma once
#include <mach/message.h>
#include <stdint.h>

// The mach_msg trap for the current thread; `msg` is the user address of the message buffer.
mach_msg_return_t mach_msg(uint64_t msg, mach_msg_option_t option, mach_msg_size_t send_size,
                           mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
                           mach_msg_timeout_t timeout, mach_port_name_t notify);
