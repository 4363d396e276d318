// The calls of vm_user.h: vm_read / vm_write / copyout between maps (out-of-line memory),
// moves, vm_statistics, and every bad input: each returns its KERN_* code, changes nothing
// and leaks nothing.
#include <vector>

#include "vm_test_util.h"

namespace {

constexpr vaddr_t P = kPageSize;

using VmUserTest = VmTest;

// Everything a failed call must leave as it was.
struct MapState {
  struct Entry {
    vaddr_t start, end;
    VmObject* object;
    uint64_t offset;
    vm_prot_t prot, max;
    vm_inherit_t inh;
    bool needs_copy;
    uint16_t wired;
    bool operator==(const Entry&) const = default;
  };
  std::vector<Entry> entries;
  size_t pmap_count;
  VmCounters counters;
  size_t free_pages;

  static MapState of(VmMap* m) {
    MapState s;
    {
      IrqSpinGuard g(m->lock);
      for (VmMapEntry* e = m->entries.first; e; e = e->next)
        s.entries.push_back({e->start, e->end, e->object, e->offset, e->protection,
                             e->max_protection, e->inheritance, e->needs_copy, e->wired_count});
    }
    s.pmap_count = host_pmap_count(m->pmap);
    s.counters = vm_counters();
    s.free_pages = vm_page_stats().free_pages;
    return s;
  }

  void expect_same(const MapState& o, const char* what) const {
    EXPECT_TRUE(entries == o.entries) << what;
    EXPECT_EQ(pmap_count, o.pmap_count) << what;
    EXPECT_EQ(counters.objects_alive, o.counters.objects_alive) << what;
    EXPECT_EQ(counters.map_entries_alive, o.counters.map_entries_alive) << what;
    EXPECT_EQ(counters.copies_alive, o.counters.copies_alive) << what;
    EXPECT_EQ(counters.resident_count, o.counters.resident_count) << what;
    EXPECT_EQ(free_pages, o.free_pages) << what;
  }
};

TEST_F(VmUserTest, ReadThenCopyoutToAnotherMap) {
  VmMap* src = new_map();
  VmMap* dst = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(src, &a, 3 * P, true), KERN_SUCCESS);
  for (int i = 0; i < 3; ++i) user_write(src, a + i * P, static_cast<uint8_t>(0x30 + i));
  VmMapCopy* data = nullptr;
  vm_size_t count = 0;
  // An unaligned read: the copy covers whole pages, and copyout returns the data's address.
  ASSERT_EQ(vm_read(src, a + P + 8, P, &data, &count), KERN_SUCCESS);
  EXPECT_EQ(count, P);
  ASSERT_NE(data, nullptr);
  vaddr_t got = 0;
  ASSERT_EQ(vm_map_copyout(dst, &got, data), KERN_SUCCESS);
  EXPECT_EQ(got & (P - 1), 8u);
  EXPECT_EQ(entry_at(dst, got).end - entry_at(dst, got).start, 2 * P);
  EXPECT_EQ(user_read(dst, got - 8), 0x31);
  EXPECT_EQ(user_read(dst, got - 8 + P), 0x32);
  // Copy-on-write both ways.
  user_write(dst, got - 8, 0x99);
  user_write(src, a + 2 * P, 0x98);
  EXPECT_EQ(user_read(src, a + P), 0x31);
  EXPECT_EQ(user_read(dst, got - 8 + P), 0x32);
  EXPECT_EQ(vm_counters().copies_alive, 0u);
  vm_map_deallocate(src);
  EXPECT_EQ(user_read(dst, got - 8), 0x99);
  vm_map_deallocate(dst);
}

TEST_F(VmUserTest, WriteFromAnotherMap) {
  VmMap* src = new_map();
  VmMap* dst = new_map();
  vaddr_t a = 0, b = 0;
  ASSERT_EQ(vm_allocate(src, &a, 2 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_allocate(dst, &b, 4 * P, true), KERN_SUCCESS);
  user_write(src, a, 1);
  user_write(src, a + P, 2);
  for (int i = 0; i < 4; ++i) user_write(dst, b + i * P, 7);
  VmMapCopy* data;
  vm_size_t count;
  ASSERT_EQ(vm_read(src, a, 2 * P, &data, &count), KERN_SUCCESS);
  uint64_t copies = vm_counters().page_copies;
  ASSERT_EQ(vm_write(dst, b + P, data, count), KERN_SUCCESS);
  EXPECT_EQ(vm_counters().page_copies, copies);  // private memory takes the objects
  EXPECT_EQ(user_read(dst, b), 7);
  EXPECT_EQ(user_read(dst, b + P), 1);
  EXPECT_EQ(user_read(dst, b + 2 * P), 2);
  EXPECT_EQ(user_read(dst, b + 3 * P), 7);
  user_write(dst, b + P, 5);
  EXPECT_EQ(user_read(src, a), 1);
  vm_map_deallocate(src);
  vm_map_deallocate(dst);
}

TEST_F(VmUserTest, WriteIntoSharedMemoryReachesEverySharer) {
  VmMap* parent = new_map();
  vaddr_t a = 0, s = 0;
  ASSERT_EQ(vm_allocate(parent, &a, 2 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_allocate(parent, &s, 2 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_inherit(parent, s, 2 * P, VM_INHERIT_SHARE), KERN_SUCCESS);
  user_write(parent, a, 4);
  user_write(parent, a + P, 5);
  VmMap* child = vm_map_fork(parent);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(user_read(child, s), 0);
  ASSERT_EQ(vm_copy(parent, a, 2 * P, s), KERN_SUCCESS);
  EXPECT_EQ(user_read(child, s), 4);
  EXPECT_EQ(user_read(child, s + P), 5);
  EXPECT_EQ(entry_object(child, s), entry_object(parent, s));
  // vm_copy out of shared memory makes a real copy: later writes do not show through.
  vaddr_t c = 0;
  ASSERT_EQ(vm_allocate(parent, &c, 2 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_copy(parent, s, 2 * P, c), KERN_SUCCESS);
  user_write(child, s, 6);
  EXPECT_EQ(user_read(parent, s), 6);
  EXPECT_EQ(user_read(parent, c), 4);
  vm_map_deallocate(child);
  vm_map_deallocate(parent);
}

TEST_F(VmUserTest, MoveWithoutCopying) {
  // Out-of-line memory whose sender deallocates: the pages move.
  VmMap* src = new_map();
  VmMap* dst = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(src, &a, 4 * P, true), KERN_SUCCESS);
  for (int i = 0; i < 4; ++i) user_write(src, a + i * P, static_cast<uint8_t>(i + 1));
  VmObject* obj = entry_object(src, a);
  VmMapCopy* copy;
  uint64_t copies = vm_counters().page_copies;
  ASSERT_EQ(vm_map_copyin(src, a, 4 * P, true, &copy), KERN_SUCCESS);
  EXPECT_EQ(entry_count(src), 0u);
  EXPECT_EQ(host_pmap_count(src->pmap), 0u);
  vaddr_t got;
  ASSERT_EQ(vm_map_copyout(dst, &got, copy), KERN_SUCCESS);
  EXPECT_EQ(entry_object(dst, got), obj);
  EXPECT_FALSE(entry_at(dst, got).needs_copy);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(user_read(dst, got + i * P), i + 1);
  user_write(dst, got, 9);
  EXPECT_EQ(vm_counters().page_copies, copies);
  EXPECT_EQ(vm_counters().cow_faults, 0u);
  vm_map_deallocate(src);
  vm_map_deallocate(dst);
}

TEST_F(VmUserTest, DiscardedCopyLeavesNothing) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 2 * P, true), KERN_SUCCESS);
  user_write(m, a, 1);
  VmMapCopy* copy;
  ASSERT_EQ(vm_map_copyin(m, a, 2 * P, false, &copy), KERN_SUCCESS);
  EXPECT_EQ(vm_counters().copies_alive, 1u);
  vm_map_copy_discard(copy);
  EXPECT_EQ(vm_counters().copies_alive, 0u);
  // The source's object has one user again: writing takes it back without a shadow.
  user_write(m, a, 2);
  EXPECT_EQ(chain_length(m, a), 1u);
  EXPECT_EQ(vm_counters().cow_faults, 0u);
  vm_map_deallocate(m);
}

TEST_F(VmUserTest, Statistics) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 4 * P, true), KERN_SUCCESS);
  for (int i = 0; i < 4; ++i) user_write(m, a + i * P, 1);
  ASSERT_EQ(vm_wire(m, a, P, VM_PROT_READ), KERN_SUCCESS);
  vm_statistics_data_t st;
  ASSERT_EQ(vm_statistics(m, &st), KERN_SUCCESS);
  EXPECT_EQ(st.pagesize, static_cast<integer_t>(kPageSize));
  EXPECT_EQ(st.free_count, static_cast<integer_t>(vm_page_stats().free_pages));
  EXPECT_EQ(st.active_count, 3);
  EXPECT_EQ(st.wire_count, 1);
  EXPECT_EQ(st.inactive_count, 0);
  EXPECT_EQ(st.zero_fill_count, 4);
  EXPECT_GE(st.faults, 4);
  EXPECT_EQ(vm_statistics(nullptr, &st), KERN_INVALID_ARGUMENT);
  ASSERT_EQ(vm_wire(m, a, P, VM_PROT_NONE), KERN_SUCCESS);
  vm_map_deallocate(m);
}

TEST_F(VmUserTest, BadInputChangesNothing) {
  VmMap* m = new_map();
  vaddr_t a = kTestMin + 8 * P;
  ASSERT_EQ(vm_allocate(m, &a, 4 * P, false), KERN_SUCCESS);
  vaddr_t ro = kTestMin + 16 * P;
  ASSERT_EQ(vm_allocate(m, &ro, 2 * P, false), KERN_SUCCESS);
  vaddr_t none = kTestMin + 20 * P;
  ASSERT_EQ(vm_allocate(m, &none, P, false), KERN_SUCCESS);
  for (int i = 0; i < 4; ++i) user_write(m, a + i * P, 1);
  user_write(m, ro, 2);
  ASSERT_EQ(vm_protect(m, ro, 2 * P, true, VM_PROT_READ), KERN_SUCCESS);
  ASSERT_EQ(vm_protect(m, none, P, false, VM_PROT_NONE), KERN_SUCCESS);
  // Warm the copy zone so that refused calls do not show its growth.
  VmMapCopy* warm;
  ASSERT_EQ(vm_map_copyin(m, a, P, false, &warm), KERN_SUCCESS);
  vm_map_copy_discard(warm);
  // Rewrite a so that it is not copy-on-write any more (the discarded copy marked it).
  user_write(m, a, 1);

  MapState before = MapState::of(m);
  const vaddr_t hole = kTestMin + 12 * P;  // between a's end and ro
  vaddr_t addr;
  VmMapCopy* data = nullptr;
  vm_size_t count;

  // vm_allocate
  addr = a + P;
  EXPECT_EQ(vm_allocate(m, &addr, P, false), KERN_NO_SPACE);
  addr = hole;
  EXPECT_EQ(vm_allocate(m, &addr, 8 * P, false), KERN_NO_SPACE);  // runs into ro
  addr = kTestMin - P;
  EXPECT_EQ(vm_allocate(m, &addr, P, false), KERN_INVALID_ADDRESS);
  addr = kTestMax - P;
  EXPECT_EQ(vm_allocate(m, &addr, 2 * P, false), KERN_INVALID_ADDRESS);
  addr = ~vaddr_t{0} - P + 1;
  EXPECT_EQ(vm_allocate(m, &addr, 4 * P, false), KERN_INVALID_ADDRESS);
  addr = 0;
  EXPECT_EQ(vm_allocate(m, &addr, ~vm_size_t{0} - 5, true), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_allocate(m, &addr, kTestMax, true), KERN_NO_SPACE);
  EXPECT_EQ(vm_allocate(nullptr, &addr, P, true), KERN_INVALID_ARGUMENT);
  before.expect_same(MapState::of(m), "vm_allocate");

  // vm_deallocate. GNU Mach: a range that wraps around, or lies outside the map, is clipped
  // to nothing: KERN_SUCCESS, nothing removed.
  EXPECT_EQ(vm_deallocate(m, a, ~vm_size_t{0}), KERN_SUCCESS);
  EXPECT_EQ(vm_deallocate(m, ~vaddr_t{0} - P + 1, 2 * P), KERN_SUCCESS);
  EXPECT_EQ(vm_deallocate(m, kTestMax, P), KERN_SUCCESS);
  EXPECT_EQ(vm_deallocate(m, 0xffff900000000000, P), KERN_SUCCESS);
  EXPECT_EQ(vm_deallocate(nullptr, a, P), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_deallocate(m, a, 0), KERN_SUCCESS);
  EXPECT_EQ(vm_deallocate(m, hole, P), KERN_SUCCESS);  // a hole: nothing to do
  before.expect_same(MapState::of(m), "vm_deallocate");

  // vm_protect / vm_inherit / vm_wire. GNU Mach: holes are skipped, and a range that wraps
  // around or lies outside the map is empty (KERN_SUCCESS, nothing changed); vm_wire answers
  // KERN_NO_SPACE for an unmapped start, a hole or an access beyond the protection.
  EXPECT_EQ(vm_protect(m, ro, P, false, VM_PROT_WRITE), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(vm_protect(m, a, 16 * P, false, VM_PROT_DEFAULT), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(vm_protect(m, ro, P, true, VM_PROT_ALL), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(vm_protect(m, a, P, false, 0x100), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_protect(m, a, ~vm_size_t{0}, false, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(vm_protect(m, a, vm_size_t{0} - a, false, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(vm_protect(m, 0xffff900000000000, P, false, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(vm_protect(m, hole, P, false, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(vm_inherit(m, a, P, -1), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_inherit(m, a, ~vm_size_t{0}, VM_INHERIT_NONE), KERN_SUCCESS);
  EXPECT_EQ(vm_inherit(m, 0xffff900000000000, P, VM_INHERIT_NONE), KERN_SUCCESS);
  EXPECT_EQ(vm_inherit(m, hole, P, VM_INHERIT_NONE), KERN_SUCCESS);
  EXPECT_EQ(vm_wire(m, ro, P, VM_PROT_WRITE), KERN_NO_SPACE);
  EXPECT_EQ(vm_wire(m, a, 16 * P, VM_PROT_READ), KERN_NO_SPACE);
  EXPECT_EQ(vm_wire(m, hole, P, VM_PROT_READ), KERN_NO_SPACE);
  EXPECT_EQ(vm_wire(m, hole, 0, VM_PROT_READ), KERN_NO_SPACE);
  EXPECT_EQ(vm_wire(m, 0xffff900000000000, P, VM_PROT_READ), KERN_NO_SPACE);
  EXPECT_EQ(vm_wire(m, a, P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_wire(m, a, P, VM_PROT_READ | 0x10), KERN_INVALID_ARGUMENT);
  // Unprivileged (the plain host port): at most kVmWireUnprivilegedLimit wired in the map.
  EXPECT_EQ(vm_wire(m, a, kVmWireUnprivilegedLimit + 1, VM_PROT_READ, false), KERN_NO_ACCESS);
  EXPECT_EQ(m->size_wired, 0u);
  before.expect_same(MapState::of(m), "vm_protect/vm_inherit/vm_wire");

  // vm_read
  EXPECT_EQ(vm_read(m, hole, P, &data, &count), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_read(m, a, 8 * P, &data, &count), KERN_INVALID_ADDRESS);  // runs into the hole
  EXPECT_EQ(vm_read(m, kTestMax + P, P, &data, &count), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_read(m, a, ~vm_size_t{0}, &data, &count), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_read(m, none, P, &data, &count), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(vm_read(nullptr, a, P, &data, &count), KERN_INVALID_ARGUMENT);
  before.expect_same(MapState::of(m), "vm_read");

  // vm_write: each with a valid copy that the failure leaves to the caller.
  ASSERT_EQ(vm_read(m, ro, P, &data, &count), KERN_SUCCESS);
  MapState with_copy = MapState::of(m);
  EXPECT_EQ(vm_write(m, hole, data, count), KERN_INVALID_ADDRESS);
  with_copy.expect_same(MapState::of(m), "vm_write to a hole");
  // The same copy still works afterwards (and is consumed).
  EXPECT_EQ(vm_write(m, a + 3 * P, data, count), KERN_SUCCESS);
  EXPECT_EQ(user_read(m, a + 3 * P), 2);
  data = nullptr;
  ASSERT_EQ(vm_read(m, ro, P, &data, &count), KERN_SUCCESS);
  with_copy = MapState::of(m);
  EXPECT_EQ(vm_write(m, ro, data, count), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(vm_write(m, a + 8, data, count), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_write(m, a, data, count + 1), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_write(m, a + 4 * P, data, count), KERN_INVALID_ADDRESS);  // ends in the hole
  EXPECT_EQ(vm_write(m, ~vaddr_t{0} - P + 1, data, count), KERN_INVALID_ADDRESS);
  with_copy.expect_same(MapState::of(m), "vm_write");
  vm_map_copy_discard(data);
  VmMapCopy* unaligned;
  ASSERT_EQ(vm_read(m, a + 8, P - 8, &unaligned, &count), KERN_SUCCESS);
  with_copy = MapState::of(m);
  EXPECT_EQ(vm_write(m, a, unaligned, count), KERN_INVALID_ARGUMENT);
  with_copy.expect_same(MapState::of(m), "vm_write unaligned");
  vm_map_copy_discard(unaligned);

  // vm_copy
  MapState before_copy = MapState::of(m);
  EXPECT_EQ(vm_copy(m, a, P, ro), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(vm_copy(m, a, P, hole), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_copy(m, hole, P, a), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_copy(m, none, P, a), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(vm_copy(m, a + 8, P, a + P), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_copy(m, a, P, ~vaddr_t{0} - P + 1), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_copy(m, a, 4 * P, a + 2 * P), KERN_INVALID_ADDRESS);  // dest runs into the hole
  before_copy.expect_same(MapState::of(m), "vm_copy");

  vm_map_deallocate(m);
}

// GNU Mach's limit for the plain host port: the bytes already wired in the map plus the size
// asked may not exceed 8 MiB (KERN_NO_ACCESS, nothing wired); unwiring is always allowed, and
// the privileged host port has no limit.
TEST_F(VmUserTest, UnprivilegedWiringIsLimited) {
  VmMap* m = new_map();
  const vm_size_t limit = kVmWireUnprivilegedLimit;
  ASSERT_EQ(limit, vm_size_t{8} << 20);
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, limit + 2 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_wire(m, a, 2 * P, VM_PROT_READ, false), KERN_SUCCESS);
  EXPECT_EQ(m->size_wired, 2 * P);
  EXPECT_EQ(vm_counters().wire_count, 2u);
  // 2 pages wired: limit - 2 pages more fit, one more page does not.
  EXPECT_EQ(vm_wire(m, a + 2 * P, limit - P, VM_PROT_READ, false), KERN_NO_ACCESS);
  EXPECT_EQ(m->size_wired, 2 * P);
  EXPECT_EQ(vm_counters().wire_count, 2u);
  ASSERT_EQ(vm_wire(m, a + 2 * P, limit - 2 * P, VM_PROT_READ, false), KERN_SUCCESS);
  EXPECT_EQ(m->size_wired, limit);
  EXPECT_EQ(vm_wire(m, a + limit, P, VM_PROT_READ, false), KERN_NO_ACCESS);
  // Privileged, past the limit.
  ASSERT_EQ(vm_wire(m, a + limit, 2 * P, VM_PROT_READ, true), KERN_SUCCESS);
  EXPECT_EQ(m->size_wired, limit + 2 * P);
  EXPECT_EQ(vm_wire(m, a, P, VM_PROT_READ, false), KERN_NO_ACCESS);
  // Unwiring, unprivileged, whatever is wired.
  ASSERT_EQ(vm_wire(m, a, limit + 2 * P, VM_PROT_NONE, false), KERN_SUCCESS);
  EXPECT_EQ(m->size_wired, 0u);
  EXPECT_EQ(vm_counters().wire_count, 0u);
  ASSERT_EQ(vm_wire(m, a + P, 3 * P, VM_PROT_READ, false), KERN_SUCCESS);
  EXPECT_EQ(m->size_wired, 3 * P);
  // Deallocating part of wired memory unwires that part.
  ASSERT_EQ(vm_deallocate(m, a + P, P), KERN_SUCCESS);
  EXPECT_EQ(m->size_wired, 2 * P);
  ASSERT_EQ(vm_deallocate(m, a, limit + 2 * P), KERN_SUCCESS);
  EXPECT_EQ(m->size_wired, 0u);
  EXPECT_EQ(vm_counters().wire_count, 0u);
  vm_map_deallocate(m);
}

}  // namespace
