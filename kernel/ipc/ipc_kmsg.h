// Kernel messages: a message while the kernel holds it, from the sender's copyin to the
// receiver's copyout (seed 004, Figs. 8-17 and 8-18). The buffer has the user layout of GNU
// Mach's x86-64 ABI; port names in the header and in port items are replaced by Port
// pointers (both fit the 8-byte slots the ABI reserves), and each such port carries the right
// its transit type says (PORT_SEND, PORT_SEND_ONCE or PORT_RECEIVE).
#pragma once
#include <mach/message.h>
#include <stddef.h>
#include <stdint.h>

#include "kern/queue.h"

struct Port;
struct IpcSpace;

// The header as the kernel keeps it (same offsets as mach_msg_header_t).
struct KMsgHeader {
  uint32_t bits;
  uint32_t size;
  uint64_t remote;  // Port* after copyin (name before)
  uint64_t local;
  uint32_t seqno;
  int32_t id;
};
static_assert(sizeof(KMsgHeader) == sizeof(mach_msg_header_t));
static_assert(offsetof(KMsgHeader, remote) == offsetof(mach_msg_header_t, msgh_remote_port));
static_assert(offsetof(KMsgHeader, local) == offsetof(mach_msg_header_t, msgh_local_port));
static_assert(offsetof(KMsgHeader, seqno) == offsetof(mach_msg_header_t, msgh_seqno));
static_assert(offsetof(KMsgHeader, id) == offsetof(mach_msg_header_t, msgh_id));

// A type descriptor (mach_msg_type_t, 8 bytes on x86-64), decoded.
struct KMsgType {
  uint32_t word;
  uint32_t number;
  unsigned name() const { return word & 0xff; }
  unsigned size_bits() const { return (word >> 8) & 0xffff; }
  bool is_inline() const { return word & (1u << 29); }
  bool longform() const { return word & (1u << 30); }
  bool deallocate() const { return word & (1u << 31); }
  void set_name(unsigned n) { word = (word & ~0xffu) | (n & 0xff); }
};
static_assert(sizeof(KMsgType) == sizeof(mach_msg_type_t));

inline constexpr uint32_t kMsgAlign = 8;                 // MACH_MSG_USER_ALIGNMENT
inline constexpr uint32_t kMsgMaxSize = 4u << 20;       // largest message the kernel copies
inline constexpr uint32_t kKMsgInline = 256;             // messages up to this live in the zone

struct KMsg {
  QueueLink link;
  uint32_t capacity = 0;  // bytes available at data()
  uint8_t* big = nullptr; // buffer from the page allocator when capacity > kKMsgInline
  unsigned big_order = 0;
  alignas(8) uint8_t small[kKMsgInline];

  uint8_t* data() { return big ? big : small; }
  KMsgHeader* header() { return reinterpret_cast<KMsgHeader*>(data()); }
  uint32_t size() { return header()->size; }
};

// An out-of-line array of port rights while the kernel holds it: the rights (transit type
// as the item's name says), in pages of their own. A message's slot points to one.
struct OolPorts {
  uint32_t count;
  unsigned order;
  Port* ports[];
};
// Room for `count` rights (all null), or nullptr on shortage; ool_ports_free gives it back
// (the caller has dealt with the rights).
OolPorts* ool_ports_alloc(uint32_t count);
void ool_ports_free(OolPorts* a);

// A message able to hold `size` bytes; nullptr on shortage.
KMsg* kmsg_alloc(uint32_t size);
// Frees the buffer only (the caller has dealt with the rights in it).
void kmsg_free(KMsg* k);
// Releases every right and port the message holds, then frees it. IPC lock held.
void kmsg_destroy(KMsg* k);
// Releases every right, port and out-of-line region the message holds, leaving the buffer.
void kmsg_release_rights(KMsg* k);

// Number of kernel messages alive, for tests.
uint64_t kmsg_count();

// Walks the typed items of a message body: `f(type, data)` is called for each item with its
// descriptor and a pointer to its data (inline data, or the out-of-line pointer); it returns
// false to stop. Returns false if the body is malformed or `f` stopped.
template <class F>
bool kmsg_for_each_item(uint8_t* body, uint8_t* end, F&& f) {
  uint8_t* p = body;
  while (p < end) {
    if (static_cast<size_t>(end - p) < sizeof(KMsgType)) return false;
    auto* t = reinterpret_cast<KMsgType*>(p);
    p += sizeof(KMsgType);
    uint64_t bytes;
    if (t->is_inline()) {
      bytes = (static_cast<uint64_t>(t->size_bits()) * t->number + 7) / 8;
    } else {
      bytes = sizeof(uint64_t);  // a pointer to out-of-line data
    }
    uint64_t padded = (bytes + kMsgAlign - 1) & ~uint64_t{kMsgAlign - 1};
    if (padded > static_cast<uint64_t>(end - p)) return false;
    if (!f(*t, p)) return false;
    p += padded;
  }
  return true;
}
