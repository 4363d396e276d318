// Kernel messages: allocation, and the conversion of rights between a space's names and the
// Port pointers a message in transit holds (Mach's ipc_kmsg_copyin / ipc_kmsg_copyout).
#include "ipc/ipc_kmsg.h"

#include "ipc/ipc_kmsg_copy.h"
#include "ipc/ipc_right.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "lib/string.h"
#include "vm/vm_map.h"
#include "vm/vm_user.h"
#include "vm/vm_usercopy.h"
#include "vm/vm_page.h"

namespace {

Zone kmsg_zone("ipc.kmsg", sizeof(KMsg), 0);
// Medium buffers (every kernel RPC's reply is one) come from a zone, which keeps freed ones:
// no trip to the page allocator per call.
constexpr uint32_t kMediumSize = 8192;
Zone kmsg_medium_zone("ipc.kmsg.8k", kMediumSize, 0);
uint64_t kmsgs_alive;

bool is_port_type(unsigned name) {
  return name >= MACH_MSG_TYPE_MOVE_RECEIVE && name <= MACH_MSG_TYPE_MAKE_SEND_ONCE;
}

// Releases the rights in the header and in the first `limit` bytes of the body, and the
// out-of-line memory there.
void release_rights(KMsg* k, uint8_t* limit) {
  KMsgHeader* h = k->header();
  right_release_transit(reinterpret_cast<Port*>(h->remote), MACH_MSGH_BITS_REMOTE(h->bits));
  right_release_transit(reinterpret_cast<Port*>(h->local), MACH_MSGH_BITS_LOCAL(h->bits));
  h->remote = h->local = 0;
  if (!(h->bits & MACH_MSGH_BITS_COMPLEX)) return;
  uint8_t* body = reinterpret_cast<uint8_t*>(h + 1);
  kmsg_for_each_item(body, limit, [&](KMsgType& t, uint8_t* data) {
    auto* slots = reinterpret_cast<uint64_t*>(data);
    if (is_port_type(t.name()) && t.is_inline()) {
      for (uint32_t i = 0; i < t.number; ++i) {
        right_release_transit(reinterpret_cast<Port*>(slots[i]), t.name());
        slots[i] = 0;
      }
    } else if (!t.is_inline() && is_port_type(t.name())) {
      if (auto* a = reinterpret_cast<OolPorts*>(slots[0])) {
        for (uint32_t i = 0; i < a->count; ++i) right_release_transit(a->ports[i], t.name());
        ool_ports_free(a);
      }
      slots[0] = 0;
    } else if (!t.is_inline()) {
      if (slots[0]) vm_map_copy_discard(reinterpret_cast<VmMapCopy*>(slots[0]));
      slots[0] = 0;
    }
    return true;
  });
}

// Out-of-line port rights from the sender: the names are read from its memory (and the range
// deallocated if asked), then each right is copied in as for inline rights.
mach_msg_return_t copyin_ool_ports(IpcSpace* s, VmMap* map, KMsgType& t, uint64_t* slot) {
  unsigned disp = t.name();
  if (t.size_bits() != 32 && t.size_bits() != 64) return MACH_SEND_INVALID_TYPE;
  uint32_t n = t.number;
  uint64_t stride = t.size_bits() / 8;
  if (n > (kPageSize << kVmPageMaxOrder) / sizeof(Port*) - 2) return MACH_SEND_NO_BUFFER;
  OolPorts* a = ool_ports_alloc(n);
  if (!a) return MACH_SEND_NO_BUFFER;
  // Names first, all of them, before any right moves.
  auto* names = reinterpret_cast<mach_port_name_t*>(a->ports);  // staged in place, 4 bytes each
  for (uint32_t i = 0; i < n; ++i) {
    if (!map_copyin(map, *slot + i * stride, &names[i], sizeof names[i])) {
      ool_ports_free(a);
      return MACH_SEND_INVALID_MEMORY;
    }
  }
  for (uint32_t i = 0; i < n; ++i) {
    mach_port_name_t name = names[i];
    if (name != MACH_PORT_NULL && name != MACH_PORT_DEAD &&
        right_copyin_check(s, name, disp) != KERN_SUCCESS) {
      ool_ports_free(a);
      return MACH_SEND_INVALID_RIGHT;
    }
  }
  // Walk backwards: ports[i] (8 bytes) overwrites names[2i, 2i+1] only after they are read.
  for (uint32_t i = n; i-- > 0;) {
    mach_port_name_t name = names[i];
    Port* p = nullptr;
    if (name == MACH_PORT_DEAD) p = kDeadPort;
    else if (name != MACH_PORT_NULL) right_copyin(s, name, disp, &p);
    a->ports[i] = p;
  }
  if (t.deallocate()) vm_deallocate(map, trunc_page(*slot), round_page(*slot + n * stride) - trunc_page(*slot));
  t.set_name(right_transit_type(disp));
  *slot = reinterpret_cast<uint64_t>(a);
  return MACH_MSG_SUCCESS;
}

uint64_t item_bytes(const KMsgType& t) {
  return (static_cast<uint64_t>(t.size_bits()) * t.number + 7) / 8;
}

}  // namespace

uint64_t kmsg_count() { return kmsgs_alive; }

OolPorts* ool_ports_alloc(uint32_t count) {
  size_t bytes = sizeof(OolPorts) + size_t{count} * sizeof(Port*);
  unsigned order = 0;
  while ((kPageSize << order) < bytes) ++order;
  if (order > kVmPageMaxOrder) return nullptr;
  VmPage* p = vm_page_alloc(order);
  if (!p) return nullptr;
  auto* a = static_cast<OolPorts*>(vm_page_to_virt(p));
  a->count = count;
  a->order = order;
  memset(a->ports, 0, size_t{count} * sizeof(Port*));
  return a;
}

void ool_ports_free(OolPorts* a) {
  vm_page_free(vm_page_from_phys(arch_virt_to_phys(a)), a->order);
}

KMsg* kmsg_alloc(uint32_t size) {
  void* mem = kmsg_zone.alloc();
  if (!mem) return nullptr;
  auto* k = new (mem) KMsg;
  k->capacity = kKMsgInline;
  if (size > kKMsgInline && size <= kMediumSize) {
    k->big = static_cast<uint8_t*>(kmsg_medium_zone.alloc());
    if (!k->big) {
      kmsg_zone.free(k);
      return nullptr;
    }
    k->big_order = ~0u;  // from the medium zone
    k->capacity = kMediumSize;
  } else if (size > kKMsgInline) {
    unsigned order = 0;
    while ((kPageSize << order) < size) ++order;
    VmPage* p = order <= kVmPageMaxOrder ? vm_page_alloc(order) : nullptr;
    if (!p) {
      kmsg_zone.free(k);
      return nullptr;
    }
    k->big = static_cast<uint8_t*>(vm_page_to_virt(p));
    k->big_order = order;
    k->capacity = static_cast<uint32_t>(kPageSize << order);
  }
  ++kmsgs_alive;
  return k;
}

void kmsg_free(KMsg* k) {
  if (k->big && k->big_order == ~0u)
    kmsg_medium_zone.free(k->big);
  else if (k->big)
    vm_page_free(vm_page_from_phys(arch_virt_to_phys(k->big)), k->big_order);
  k->~KMsg();
  kmsg_zone.free(k);
  --kmsgs_alive;
}

void kmsg_destroy(KMsg* k) {
  kmsg_release_rights(k);
  kmsg_free(k);
}

void kmsg_release_rights(KMsg* k) { release_rights(k, k->data() + k->size()); }

mach_msg_return_t kmsg_copyin_header(IpcSpace* s, KMsg* k) {
  KMsgHeader* h = k->header();
  unsigned rd = MACH_MSGH_BITS_REMOTE(h->bits), ld = MACH_MSGH_BITS_LOCAL(h->bits);
  auto dest_name = static_cast<mach_port_name_t>(h->remote);
  auto reply_name = static_cast<mach_port_name_t>(h->local);
  unsigned rt = right_transit_type(rd);
  unsigned lt = right_transit_type(ld);
  if (!rt || rd == MACH_MSG_TYPE_MOVE_RECEIVE) return MACH_SEND_INVALID_HEADER;
  // GNU Mach: a reply disposition must be a send right even with no reply name, and a
  // reply name needs a disposition.
  if (ld != 0 ? (!lt || ld == MACH_MSG_TYPE_MOVE_RECEIVE) : reply_name != MACH_PORT_NULL)
    return MACH_SEND_INVALID_HEADER;
  if (dest_name == MACH_PORT_NULL || dest_name == MACH_PORT_DEAD) return MACH_SEND_INVALID_DEST;
  if (right_copyin_check(s, dest_name, rd) != KERN_SUCCESS) return MACH_SEND_INVALID_DEST;
  // A dead destination is refused before anything is taken (GNU Mach copies the
  // destination in with deadok false): the dead name keeps its user references.
  if (right_lookup(s, dest_name)->type & MACH_PORT_TYPE_DEAD_NAME) return MACH_SEND_INVALID_DEST;
  if (reply_name != MACH_PORT_NULL && reply_name != MACH_PORT_DEAD) {
    if (right_copyin_check(s, reply_name, ld) != KERN_SUCCESS) return MACH_SEND_INVALID_REPLY;
    // The same name twice: both rights must be there. GNU Mach blames the destination.
    if (reply_name == dest_name) {
      IpcEntry* e = right_lookup(s, dest_name);
      bool moves_once = rd == MACH_MSG_TYPE_MOVE_SEND_ONCE || ld == MACH_MSG_TYPE_MOVE_SEND_ONCE;
      bool two_moves = rd == MACH_MSG_TYPE_MOVE_SEND && ld == MACH_MSG_TYPE_MOVE_SEND;
      if (moves_once || (two_moves && e->urefs < 2)) return MACH_SEND_INVALID_DEST;
    }
  }
  Port* dest = nullptr;
  Port* reply = nullptr;
  right_copyin(s, dest_name, rd, &dest);
  if (reply_name == MACH_PORT_DEAD) {
    reply = kDeadPort;
  } else if (reply_name == dest_name && rd == MACH_MSG_TYPE_MOVE_SEND &&
             ld == MACH_MSG_TYPE_COPY_SEND) {
    // The move may have taken the entry's last uref: the reply is a copy of the moved
    // right, as GNU Mach makes it.
    port_reference(dest);
    port_copy_send(dest);
    reply = dest;
  } else if (reply_name != MACH_PORT_NULL) {
    right_copyin(s, reply_name, ld, &reply);
  }
  h->remote = reinterpret_cast<uint64_t>(dest);
  h->local = reinterpret_cast<uint64_t>(reply);
  h->bits = (h->bits & ~MACH_MSGH_BITS_PORTS_MASK) | MACH_MSGH_BITS(rt, reply ? lt : 0);
  return MACH_MSG_SUCCESS;
}

mach_msg_return_t kmsg_copyin_body(IpcSpace* s, KMsg* k, VmMap* map) {
  KMsgHeader* h = k->header();
  if (!(h->bits & MACH_MSGH_BITS_COMPLEX)) return MACH_MSG_SUCCESS;
  uint8_t* body = reinterpret_cast<uint8_t*>(h + 1);
  uint8_t* end = k->data() + h->size;
  mach_msg_return_t mr = MACH_MSG_SUCCESS;
  uint8_t* done = body;  // rights before this point are copied in
  bool ok = kmsg_for_each_item(body, end, [&](KMsgType& t, uint8_t* data) {
    unsigned name = t.name();
    // GNU Mach passes any other type name through as plain data; only port rights and
    // out-of-line memory are the kernel's business.
    if (!t.is_inline()) {
      // Out-of-line memory: a copy-on-write map copy of the sender's range (moved out of
      // the sender when it asks for deallocation). Out-of-line port arrays: not yet.
      auto* slot = reinterpret_cast<uint64_t*>(data);
      uint64_t bytes = item_bytes(t);
      VmMapCopy* copy = nullptr;
      if (!map) {
        mr = MACH_SEND_INVALID_TYPE;
      } else if (is_port_type(name)) {
        mr = copyin_ool_ports(s, map, t, slot);
        // On failure the slot still holds the user's address: release_rights must not
        // take it for an array of rights.
        if (mr != MACH_MSG_SUCCESS) *slot = 0;
        done = data + sizeof(uint64_t);
        return mr == MACH_MSG_SUCCESS;
      } else if (bytes && vm_map_copyin(map, *slot, bytes, t.deallocate(), &copy) != KERN_SUCCESS) {
        mr = MACH_SEND_INVALID_MEMORY;
      }
      if (mr != MACH_MSG_SUCCESS) {
        *slot = 0;
        done = data + sizeof(uint64_t);
        return false;
      }
      *slot = reinterpret_cast<uint64_t>(copy);
      done = data + sizeof(uint64_t);
      return true;
    }
    if (is_port_type(name)) {
      if (t.size_bits() != 64) {
        mr = MACH_SEND_INVALID_TYPE;
        return false;
      }
      auto* slots = reinterpret_cast<uint64_t*>(data);
      for (uint32_t i = 0; i < t.number; ++i) {
        auto n = static_cast<mach_port_name_t>(slots[i]);
        Port* p = nullptr;
        if (n == MACH_PORT_DEAD) {
          p = kDeadPort;
        } else if (n != MACH_PORT_NULL) {
          // A port's receive right may travel in a message to that port, as on GNU Mach.
          if (right_copyin_check(s, n, name) != KERN_SUCCESS) mr = MACH_SEND_INVALID_RIGHT;
          if (mr != MACH_MSG_SUCCESS) {
            for (uint32_t j = i; j < t.number; ++j) slots[j] = 0;
            t.set_name(right_transit_type(name));
            done = data + t.number * 8;
            return false;
          }
          right_copyin(s, n, name, &p);
        }
        slots[i] = reinterpret_cast<uint64_t>(p);
      }
      t.set_name(right_transit_type(name));
    }
    uint64_t bytes = (static_cast<uint64_t>(t.size_bits()) * t.number + 7) / 8;
    done = data + ((bytes + kMsgAlign - 1) & ~uint64_t{kMsgAlign - 1});
    return true;
  });
  if (mr == MACH_MSG_SUCCESS && !ok) mr = MACH_SEND_MSG_TOO_SMALL;
  if (mr != MACH_MSG_SUCCESS) {
    // Mach destroys a message whose body fails: the rights copied in so far go with it.
    release_rights(k, done);
  }
  return mr;
}

mach_msg_return_t kmsg_copyout(IpcSpace* s, KMsg* k, VmMap* map) {
  KMsgHeader* h = k->header();
  Port* dest = reinterpret_cast<Port*>(h->remote);
  Port* reply = reinterpret_cast<Port*>(h->local);
  unsigned rt = MACH_MSGH_BITS_REMOTE(h->bits), lt = MACH_MSGH_BITS_LOCAL(h->bits);
  // The destination right is used up by the delivery; the receiver sees its receive right's
  // name as the local port and the reply right as the remote port.
  mach_port_name_t dest_name = port_valid(dest) ? dest->receiver_name : MACH_PORT_NULL;
  if (port_valid(dest)) {
    if (rt == MACH_MSG_TYPE_PORT_SEND) {
      port_release_send(dest);
    } else {
      --dest->sorights;
      port_release(dest);
    }
  }
  mach_port_name_t reply_name = MACH_PORT_NULL;
  right_copyout(s, reply, lt, &reply_name);
  h->bits = (h->bits & ~MACH_MSGH_BITS_PORTS_MASK) | MACH_MSGH_BITS(reply ? lt : 0, rt);
  h->remote = reply_name;
  h->local = dest_name;
  if (!(h->bits & MACH_MSGH_BITS_COMPLEX)) return MACH_MSG_SUCCESS;
  uint8_t* body = reinterpret_cast<uint8_t*>(h + 1);
  kmsg_for_each_item(body, k->data() + h->size, [&](KMsgType& t, uint8_t* data) {
    if (!t.is_inline() && is_port_type(t.name())) {
      // Out-of-line rights: named in the receiver's space, the names delivered as memory.
      auto* slot = reinterpret_cast<uint64_t*>(data);
      auto* a = reinterpret_cast<OolPorts*>(*slot);
      vaddr_t addr = 0;
      if (a) {
        // Out of line, a user's array of rights is one of 32-bit names (MIG checks that).
        auto* names = reinterpret_cast<mach_port_name_t*>(a->ports);
        for (uint32_t i = 0; i < a->count; ++i) {
          Port* p = a->ports[i];  // read before names[i] overwrites the first half of it
          right_copyout(s, p, t.name(), &names[i]);
        }
        VmMapCopy* copy =
            map ? vm_map_copy_from_kernel(names, a->count * sizeof(mach_port_name_t)) : nullptr;
        if (copy && vm_map_copyout(map, &addr, copy) != KERN_SUCCESS) {
          vm_map_copy_discard(copy);
          addr = 0;
        }
        ool_ports_free(a);
      }
      t.word = (t.word & ~(0xffffu << 8)) | (32u << 8);
      *slot = addr;
      return true;
    }
    if (!t.is_inline()) {
      // The memory lands anywhere in the receiver; its address replaces the copy.
      auto* slot = reinterpret_cast<uint64_t*>(data);
      auto* copy = reinterpret_cast<VmMapCopy*>(*slot);
      vaddr_t addr = 0;
      if (copy && (!map || vm_map_copyout(map, &addr, copy) != KERN_SUCCESS)) {
        vm_map_copy_discard(copy);
        addr = 0;
      }
      *slot = addr;
      return true;
    }
    if (is_port_type(t.name()) && t.is_inline()) {
      auto* slots = reinterpret_cast<uint64_t*>(data);
      for (uint32_t i = 0; i < t.number; ++i) {
        mach_port_name_t n;
        right_copyout(s, reinterpret_cast<Port*>(slots[i]), t.name(), &n);
        slots[i] = n;  // the name in the low half, zero above (mach_port_name_inlined_t)
      }
    }
    return true;
  });
  return MACH_MSG_SUCCESS;
}
