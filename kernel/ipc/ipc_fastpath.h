// The mach_msg fast path: an RPC's send straight to a receiver that already waits, and a
// direct switch to it (seed 004, 8.4; Mach 3's mach_msg_trap fast path; seL4's fastpath).
#pragma once
#include <mach/message.h>
#include <stdint.h>

struct Thread;

// Largest message the fast path carries, and the receiver-side buffer a waiting receive
// holds for it (Thread::ipc_rcv_buf).
inline constexpr uint32_t kFastMsgMax = 128;  // sizeof Thread::ipc_rcv_buf

enum class FastPath {
  kNo,    // not the fast path's case: nothing was done, the general path does everything
  kDone,  // the whole call is done; its result is in *mr
  kSent,  // the send is done (the message was delivered); the general path must receive
};

// The common RPC of mach_msg: MACH_SEND_MSG|MACH_RCV_MSG, no other option, a simple
// message of at most kFastMsgMax bytes, a COPY_SEND or MOVE_SEND_ONCE destination that is
// a user port with an empty queue and a receiver blocked in mach_msg on it (or on its set),
// a MAKE_SEND_ONCE reply right or none, and a receive name with nothing queued. The message
// goes straight to the receiver (its rights into the receiver's space), the caller waits
// on its own receive name and the CPU goes to the receiver with no run queue in between.
// Interrupts on; takes the IPC lock.
FastPath mach_msg_fast(uint64_t msg, mach_msg_option_t option, mach_msg_size_t send_size,
                       mach_msg_size_t rcv_size, mach_port_name_t rcv_name,
                       mach_msg_return_t* mr);

// For a receive that has just woken, IPC lock held: if a sender handed it a message
// (here or in ipc/mach_msg.cc), releases the lock, copies the message out to `user_msg`,
// sets *mr and returns true. Otherwise returns false with the lock still held.
bool ipc_rcv_take_delivered(Thread* self, uint64_t user_msg, mach_msg_return_t* mr);
