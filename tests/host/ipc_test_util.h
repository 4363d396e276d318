// Shared set-up for the IPC host tests: two name spaces standing for two tasks, helpers that
// move rights between them as mach_msg would (right_copyin in one, right_copyout in the
// other), a receive that copies a queued message out as the receiving task sees it, and a
// checked tear-down: both spaces destroyed, no port, port set, message or dead-name request
// left alive, the IPC zones emptied and every page back with the page allocator.
#pragma once
#include <gtest/gtest.h>
#include <mach/message.h>
#include <mach/notify.h>
#include <string.h>

#include <vector>

#include "arch/host_arch.h"
#include "arch/sched_stub.h"
#include "ipc/ipc_kmsg_copy.h"
#include "ipc/ipc_right.h"
#include "kern/zalloc.h"
#include "vm/vm_page.h"

// The kernel side of mach_port.defs (ipc/mach_port.cc); each takes the IPC lock itself.
extern "C" {
kern_return_t mach_port_allocate(IpcSpace* s, mach_port_right_t right, mach_port_name_t* name);
kern_return_t mach_port_type(IpcSpace* s, mach_port_name_t name, mach_port_type_t* type);
kern_return_t mach_port_request_notification(IpcSpace* s, mach_port_name_t name,
                                             mach_msg_id_t id, mach_port_mscount_t sync,
                                             Port* notify, Port** previous);
kern_return_t mach_port_move_member(IpcSpace* s, mach_port_name_t member,
                                    mach_port_name_t after);
}

class IpcTest : public ::testing::Test {
 protected:
  // The IPC zones (ipc_port.cc, ipc_kmsg.cc): emptied at tear-down, so that the next test's
  // fresh page allocator does not meet chunks of the old one.
  static constexpr const char* kIpcZones[] = {"ipc.port", "ipc.pset", "ipc.dnrequest",
                                              "ipc.kmsg", "ipc.kmsg.8k"};

  static Zone* zone_named(const char* name) {
    Zone* found = nullptr;
    zone_for_each([&](Zone& z) {
      if (strcmp(z.name(), name) == 0) found = &z;
    });
    return found;
  }
  static size_t zone_in_use(const char* name) {
    Zone* z = zone_named(name);
    return z ? z->stats().in_use : 0;
  }

  void SetUp() override {
    PhysRange all = host_phys_all();
    vm_page_bootstrap(&all, 1);
    free_pages_ = vm_page_stats().free_pages;
    host_wakeups_clear();
    ASSERT_EQ(port_count(), 0u);
    ASSERT_EQ(pset_count(), 0u);
    ASSERT_EQ(kmsg_count(), 0u);
  }

  void TearDown() override {
    {
      IpcGuard g;
      right_space_destroy(&a_);
      right_space_destroy(&b_);
    }
    expect_no_ipc_objects();
    // Empty zones only: destroying one with elements in use would panic.
    bool empty = port_count() == 0 && pset_count() == 0 && kmsg_count() == 0;
    for (const char* n : kIpcZones) empty = empty && zone_in_use(n) == 0;
    if (!empty) return;
    for (const char* n : kIpcZones)
      if (Zone* z = zone_named(n)) z->destroy();
    EXPECT_EQ(vm_page_stats().free_pages, free_pages_);
  }

  static void expect_no_ipc_objects() {
    EXPECT_EQ(port_count(), 0u);
    EXPECT_EQ(pset_count(), 0u);
    EXPECT_EQ(kmsg_count(), 0u);
    EXPECT_EQ(zone_in_use("ipc.dnrequest"), 0u);
  }

  // A new receive right in `s`, as mach_port_allocate makes it.
  static mach_port_name_t new_port(IpcSpace& s) {
    mach_port_name_t n = MACH_PORT_NULL;
    EXPECT_EQ(mach_port_allocate(&s, MACH_PORT_RIGHT_RECEIVE, &n), KERN_SUCCESS);
    return n;
  }

  // The entry at `name` after Mach's lazy dead-name check, or nullptr.
  static IpcEntry* entry(IpcSpace& s, mach_port_name_t name) {
    IpcGuard g;
    return right_lookup(&s, name);
  }
  static uint32_t type_of(IpcSpace& s, mach_port_name_t name) {
    IpcEntry* e = entry(s, name);
    return e ? e->type : 0;
  }
  static uint32_t urefs_of(IpcSpace& s, mach_port_name_t name) {
    IpcEntry* e = entry(s, name);
    return e ? e->urefs : 0;
  }
  static Port* port_of(IpcSpace& s, mach_port_name_t name) {
    IpcEntry* e = entry(s, name);
    return e ? static_cast<Port*>(e->object) : nullptr;
  }

  // A transit right taken out of `s` by disposition `disp`.
  static Port* copyin(IpcSpace& s, mach_port_name_t name, unsigned disp,
                      kern_return_t want = KERN_SUCCESS) {
    IpcGuard g;
    Port* p = nullptr;
    EXPECT_EQ(right_copyin(&s, name, disp, &p), want);
    return p;
  }
  static mach_port_name_t copyout(IpcSpace& s, Port* p, unsigned transit) {
    IpcGuard g;
    mach_port_name_t n = MACH_PORT_NULL;
    EXPECT_EQ(right_copyout(&s, p, transit, &n), KERN_SUCCESS);
    return n;
  }
  // Moves a right from `from` to `to` as a message would; its name in `to`.
  static mach_port_name_t give(IpcSpace& from, mach_port_name_t name, unsigned disp,
                               IpcSpace& to) {
    Port* p = copyin(from, name, disp);
    return copyout(to, p, right_transit_type(disp));
  }

  // Asks for a notification on `name` in `s`, to be sent to the receive right `notify_name`
  // of `ns` (a make-send-once right, as the .defs ask of users).
  static kern_return_t request(IpcSpace& s, mach_port_name_t name, mach_msg_id_t id,
                               mach_port_mscount_t sync, IpcSpace& ns,
                               mach_port_name_t notify_name) {
    Port* so = copyin(ns, notify_name, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    Port* previous = nullptr;
    kern_return_t kr = mach_port_request_notification(&s, name, id, sync, so, &previous);
    IpcGuard g;
    if (kr != KERN_SUCCESS) right_release_transit(so, MACH_MSG_TYPE_PORT_SEND_ONCE);
    if (previous) right_release_transit(previous, MACH_MSG_TYPE_PORT_SEND_ONCE);
    return kr;
  }

  static size_t queued(IpcSpace& s, mach_port_name_t name) {
    Port* p = port_of(s, name);
    IpcGuard g;
    return p ? p->messages.size() : 0;
  }

  // Receives the first message queued on receive right `name` of `s` (without blocking):
  // dequeued, copied out into `s` and returned in the user's layout. Empty if none.
  static std::vector<uint8_t> receive(IpcSpace& s, mach_port_name_t name) {
    IpcGuard g;
    IpcEntry* e = right_lookup(&s, name);
    if (!e || !(e->type & MACH_PORT_TYPE_RECEIVE)) return {};
    auto* p = static_cast<Port*>(e->object);
    KMsg* k = p->messages.pop_front();
    if (!k) return {};
    k->header()->seqno = p->seqno++;
    EXPECT_EQ(kmsg_copyout(&s, k), MACH_MSG_SUCCESS);
    std::vector<uint8_t> out(k->data(), k->data() + k->size());
    kmsg_free(k);
    return out;
  }
  static mach_msg_header_t header_of(const std::vector<uint8_t>& m) {
    mach_msg_header_t h{};
    if (m.size() >= sizeof h) memcpy(&h, m.data(), sizeof h);
    return h;
  }
  // The 32-bit value of a one-item notification body (a name or a count).
  static uint32_t notify_value(const std::vector<uint8_t>& m) {
    uint32_t v = 0;
    if (m.size() >= sizeof(mach_msg_header_t) + sizeof(mach_msg_type_t) + 4)
      memcpy(&v, m.data() + sizeof(mach_msg_header_t) + sizeof(mach_msg_type_t), 4);
    return v;
  }

  IpcSpace a_;  // task A's space
  IpcSpace b_;  // task B's space
  size_t free_pages_ = 0;
};
