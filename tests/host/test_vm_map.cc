// Address maps: entering, lookup, clipping, merging, protection, inheritance, regions and the
// pmap kept as a cache (lowered or emptied on every change).
#include "vm_test_util.h"

namespace {

constexpr vaddr_t P = kPageSize;

using VmMapTest = VmTest;

TEST_F(VmMapTest, CreateAndDestroyEmpty) {
  VmMap* m = new_map();
  EXPECT_EQ(entry_count(m), 0u);
  EXPECT_EQ(vm_counters().maps_alive, 1u);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, AllocateAnywhereIsLowestFit) {
  VmMap* m = new_map();
  vaddr_t a = 0, b = 0, c = 0;
  ASSERT_EQ(vm_allocate(m, &a, 3 * P, true), KERN_SUCCESS);
  EXPECT_EQ(a, kTestMin);
  ASSERT_EQ(vm_allocate(m, &b, 2 * P, true), KERN_SUCCESS);
  EXPECT_EQ(b, kTestMin + 3 * P);
  // Two zero-fill allocations that touch merge into one entry.
  EXPECT_EQ(entry_count(m), 1u);
  ASSERT_EQ(vm_deallocate(m, a + P, P), KERN_SUCCESS);
  EXPECT_EQ(entry_count(m), 2u);
  // The hole of one page is found first.
  ASSERT_EQ(vm_allocate(m, &c, P, true), KERN_SUCCESS);
  EXPECT_EQ(c, a + P);
  EXPECT_EQ(entry_count(m), 1u);
  EXPECT_EQ(m->size, 5 * P);
  vm_map_deallocate(m);
}

// A user map starts at 0, as GNU Mach's: page 0 can be allocated at a fixed address, but an
// `anywhere` allocation never picks it. And as GNU Mach's, an `anywhere` allocation in a map
// that has entries never goes below the first one.
TEST_F(VmMapTest, PageZeroAndTheSpaceBelowTheFirstEntry) {
  VmMap* m = new_map(0, kTestMax);
  vaddr_t a = 0x1234;
  ASSERT_EQ(vm_allocate(m, &a, P, true), KERN_SUCCESS);
  EXPECT_EQ(a, P);  // empty map: the lowest page but page 0
  ASSERT_EQ(vm_deallocate(m, a, P), KERN_SUCCESS);
  vaddr_t z = 0;
  ASSERT_EQ(vm_allocate(m, &z, P, false), KERN_SUCCESS);
  EXPECT_EQ(z, 0u);
  user_write(m, 0, 5);
  EXPECT_EQ(user_read(m, 0), 5);
  ASSERT_EQ(vm_deallocate(m, 0, P), KERN_SUCCESS);
  EXPECT_EQ(entry_count(m), 0u);
  vm_map_deallocate(m);

  // The first entry high up: nothing goes below it, even where there is room.
  m = new_map();
  vaddr_t high = kTestMin + 64 * P;
  ASSERT_EQ(vm_allocate(m, &high, 2 * P, false), KERN_SUCCESS);
  vaddr_t b = 0;
  ASSERT_EQ(vm_allocate(m, &b, P, true), KERN_SUCCESS);
  EXPECT_EQ(b, high + 2 * P);
  // With a hole after the first entry, the hole is taken first.
  vaddr_t c = high + 4 * P;
  ASSERT_EQ(vm_allocate(m, &c, P, false), KERN_SUCCESS);
  ASSERT_EQ(vm_deallocate(m, b, P), KERN_SUCCESS);
  vaddr_t d = 0;
  ASSERT_EQ(vm_allocate(m, &d, P, true), KERN_SUCCESS);
  EXPECT_EQ(d, high + 2 * P);
  // A mask aligns after the first entry too.
  vaddr_t e = 0;
  ASSERT_EQ(vm_map(m, &e, P, 0xffff, true, nullptr, 0, false, VM_PROT_READ, VM_PROT_READ,
                   VM_INHERIT_COPY),
            KERN_SUCCESS);
  EXPECT_EQ(e & 0xffff, 0u);
  EXPECT_GT(e, high);
  // Fixed allocations below the first entry are fine.
  vaddr_t low = kTestMin;
  ASSERT_EQ(vm_allocate(m, &low, P, false), KERN_SUCCESS);
  EXPECT_EQ(low, kTestMin);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, FixedAllocation) {
  VmMap* m = new_map();
  vaddr_t a = kTestMin + 16 * P;
  ASSERT_EQ(vm_allocate(m, &a, 4 * P, false), KERN_SUCCESS);
  EXPECT_EQ(a, kTestMin + 16 * P);
  // Unaligned fixed addresses are truncated, as GNU Mach does.
  vaddr_t u = kTestMin + 32 * P + 123;
  ASSERT_EQ(vm_allocate(m, &u, 1, false), KERN_SUCCESS);
  EXPECT_EQ(u, kTestMin + 32 * P);
  // Overlaps: at the start, inside, across the end.
  const vaddr_t cases[][2] = {{kTestMin + 14 * P, 3 * P}, {kTestMin + 17 * P, P},
                             {kTestMin + 19 * P, 2 * P}, {kTestMin, 64 * P}};
  for (auto [x, size] : cases) {
    vaddr_t t = x;
    EXPECT_EQ(vm_allocate(m, &t, size, false), KERN_NO_SPACE) << std::hex << x;
    EXPECT_EQ(t, x);
  }
  EXPECT_EQ(entry_count(m), 2u);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, LookupAndHint) {
  VmMap* m = new_map();
  vaddr_t addrs[4];
  for (int i = 0; i < 4; ++i) {
    addrs[i] = kTestMin + (10 * i + 1) * P;
    ASSERT_EQ(vm_allocate(m, &addrs[i], 2 * P, false), KERN_SUCCESS);
  }
  {
    IrqSpinGuard g(m->lock);
    VmMapEntry* e;
    // Lookups in every order, so the hint is both ahead of and behind the address.
    for (int pass = 0; pass < 2; ++pass) {
      for (int k = 0; k < 4; ++k) {
        int i = pass ? 3 - k : k;
        ASSERT_TRUE(vm_map_lookup_entry_locked(m, addrs[i] + P + 5, &e));
        EXPECT_EQ(e->start, addrs[i]);
        ASSERT_FALSE(vm_map_lookup_entry_locked(m, addrs[i] + 2 * P, &e));
        EXPECT_EQ(e->start, addrs[i]);  // the entry before the address
      }
    }
    EXPECT_FALSE(vm_map_lookup_entry_locked(m, kTestMin, &e));
    EXPECT_EQ(e, nullptr);
  }
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, ProtectClipsAndMergesBack) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 8 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_protect(m, a + 2 * P, 3 * P, false, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(entry_count(m), 3u);
  EXPECT_EQ(entry_at(m, a).protection, VM_PROT_DEFAULT);
  EXPECT_EQ(entry_at(m, a + 2 * P).protection, VM_PROT_READ);
  EXPECT_EQ(entry_at(m, a + 2 * P).start, a + 2 * P);
  EXPECT_EQ(entry_at(m, a + 4 * P).end, a + 5 * P);
  EXPECT_EQ(entry_at(m, a + 5 * P).protection, VM_PROT_DEFAULT);
  // Back to the same attributes: one entry again.
  ASSERT_EQ(vm_protect(m, a + 2 * P, 3 * P, false, VM_PROT_DEFAULT), KERN_SUCCESS);
  EXPECT_EQ(entry_count(m), 1u);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, ProtectAboveMaximumChangesNothing) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 4 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_protect(m, a + 2 * P, 2 * P, true, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(entry_at(m, a + 2 * P).max_protection, VM_PROT_READ);
  EXPECT_EQ(entry_at(m, a + 2 * P).protection, VM_PROT_READ);
  size_t n = entry_count(m);
  // The range spans an entry that would allow it and one that would not: all refused.
  EXPECT_EQ(vm_protect(m, a + P, 2 * P, false, VM_PROT_WRITE), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(vm_protect(m, a + 3 * P, P, true, VM_PROT_ALL), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(entry_count(m), n);
  EXPECT_EQ(entry_at(m, a + P).protection, VM_PROT_DEFAULT);
  EXPECT_EQ(entry_at(m, a + 2 * P).protection, VM_PROT_READ);
  EXPECT_EQ(vm_protect(m, a, P, false, VM_PROT_ALL | 0x40), KERN_INVALID_ARGUMENT);
  // Lowering is always allowed; a hole in the range is skipped.
  EXPECT_EQ(vm_protect(m, a, 16 * P, false, VM_PROT_NONE), KERN_SUCCESS);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, ProtectLowersThePmap) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 2 * P, true), KERN_SUCCESS);
  user_write(m, a, 1);
  user_write(m, a + P, 2);
  paddr_t pa;
  unsigned prot;
  ASSERT_TRUE(host_pmap_lookup(m->pmap, a, &pa, &prot));
  EXPECT_EQ(prot, unsigned{VM_PROT_DEFAULT});
  ASSERT_EQ(vm_protect(m, a, P, false, VM_PROT_READ), KERN_SUCCESS);
  ASSERT_TRUE(host_pmap_lookup(m->pmap, a, &pa, &prot));
  EXPECT_EQ(prot, unsigned{VM_PROT_READ});
  EXPECT_EQ(try_write(m, a, 3), KERN_PROTECTION_FAILURE);
  EXPECT_EQ(user_read(m, a), 1);
  ASSERT_EQ(vm_protect(m, a, P, false, VM_PROT_NONE), KERN_SUCCESS);
  EXPECT_FALSE(host_pmap_lookup(m->pmap, a, &pa, &prot));
  uint8_t v;
  EXPECT_EQ(try_read(m, a, &v), KERN_PROTECTION_FAILURE);
  // Raised again: the data is still there (the pmap was only a cache).
  ASSERT_EQ(vm_protect(m, a, P, false, VM_PROT_DEFAULT), KERN_SUCCESS);
  EXPECT_EQ(user_read(m, a), 1);
  EXPECT_EQ(user_read(m, a + P), 2);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, InheritClipsAndValidates) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 6 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_inherit(m, a + P, P, VM_INHERIT_SHARE), KERN_SUCCESS);
  ASSERT_EQ(vm_inherit(m, a + 4 * P, 2 * P, VM_INHERIT_NONE), KERN_SUCCESS);
  EXPECT_EQ(entry_count(m), 4u);
  EXPECT_EQ(entry_at(m, a).inheritance, VM_INHERIT_COPY);
  EXPECT_EQ(entry_at(m, a + P).inheritance, VM_INHERIT_SHARE);
  EXPECT_EQ(entry_at(m, a + 2 * P).inheritance, VM_INHERIT_COPY);
  EXPECT_EQ(entry_at(m, a + 5 * P).inheritance, VM_INHERIT_NONE);
  EXPECT_EQ(vm_inherit(m, a, P, 7), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(entry_count(m), 4u);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, DeallocateSplitsAndFreesPages) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 8 * P, true), KERN_SUCCESS);
  for (int i = 0; i < 8; ++i) user_write(m, a + i * P, static_cast<uint8_t>(i + 1));
  EXPECT_EQ(vm_counters().resident_count, 8u);
  ASSERT_EQ(vm_deallocate(m, a + 3 * P, 2 * P), KERN_SUCCESS);
  EXPECT_EQ(entry_count(m), 2u);
  EXPECT_EQ(m->size, 6 * P);
  paddr_t pa;
  unsigned prot;
  EXPECT_FALSE(host_pmap_lookup(m->pmap, a + 3 * P, &pa, &prot));
  uint8_t v;
  EXPECT_EQ(try_read(m, a + 3 * P, &v), KERN_INVALID_ADDRESS);
  EXPECT_EQ(user_read(m, a + 2 * P), 3);
  EXPECT_EQ(user_read(m, a + 5 * P), 6);
  // Both halves share one object; it goes when the last half goes.
  EXPECT_EQ(entry_object(m, a), entry_object(m, a + 5 * P));
  ASSERT_EQ(vm_deallocate(m, a, 8 * P), KERN_SUCCESS);
  EXPECT_EQ(entry_count(m), 0u);
  EXPECT_EQ(vm_counters().objects_alive, 0u);
  EXPECT_EQ(vm_counters().resident_count, 0u);
  EXPECT_EQ(host_pmap_count(m->pmap), 0u);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, Region) {
  VmMap* m = new_map();
  vaddr_t a = kTestMin + 4 * P, b = kTestMin + 20 * P;
  ASSERT_EQ(vm_allocate(m, &a, 2 * P, false), KERN_SUCCESS);
  ASSERT_EQ(vm_allocate(m, &b, 3 * P, false), KERN_SUCCESS);
  ASSERT_EQ(vm_protect(m, b, 3 * P, true, VM_PROT_READ), KERN_SUCCESS);
  vaddr_t addr = 0;
  vm_size_t size;
  vm_prot_t prot, max;
  vm_inherit_t inh;
  bool shared;
  vm_offset_t off;
  ASSERT_EQ(vm_region(m, &addr, &size, &prot, &max, &inh, &shared, &off), KERN_SUCCESS);
  EXPECT_EQ(addr, a);
  EXPECT_EQ(size, 2 * P);
  EXPECT_EQ(prot, VM_PROT_DEFAULT);
  EXPECT_EQ(max, VM_PROT_ALL);
  EXPECT_EQ(inh, VM_INHERIT_COPY);
  EXPECT_FALSE(shared);
  addr = a + 2 * P;
  ASSERT_EQ(vm_region(m, &addr, &size, &prot, &max, &inh, &shared, &off), KERN_SUCCESS);
  EXPECT_EQ(addr, b);
  EXPECT_EQ(size, 3 * P);
  EXPECT_EQ(prot, VM_PROT_READ);
  EXPECT_EQ(max, VM_PROT_READ);
  addr = b + P;  // inside: the region containing it
  ASSERT_EQ(vm_region(m, &addr, &size, &prot, &max, &inh, &shared, &off), KERN_SUCCESS);
  EXPECT_EQ(addr, b);
  addr = b + 3 * P;
  EXPECT_EQ(vm_region(m, &addr, &size, &prot, &max, &inh, &shared, &off), KERN_NO_SPACE);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, MapWithMaskAndProtections) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, P, true), KERN_SUCCESS);
  vaddr_t b = 0;
  ASSERT_EQ(vm_map(m, &b, 2 * P, 0xffff, true, nullptr, 0, false, VM_PROT_READ, VM_PROT_READ,
                   VM_INHERIT_SHARE),
            KERN_SUCCESS);
  EXPECT_EQ(b & 0xffff, 0u);
  EXPECT_GT(b, a);
  VmMapEntry e = entry_at(m, b);
  EXPECT_EQ(e.protection, VM_PROT_READ);
  EXPECT_EQ(e.max_protection, VM_PROT_READ);
  EXPECT_EQ(e.inheritance, VM_INHERIT_SHARE);
  EXPECT_EQ(user_read(m, b), 0);
  EXPECT_EQ(try_write(m, b, 1), KERN_PROTECTION_FAILURE);
  vaddr_t c = 0;
  EXPECT_EQ(vm_map(m, &c, 0, 0, true, nullptr, 0, false, VM_PROT_READ, VM_PROT_READ,
                   VM_INHERIT_SHARE), KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_map(m, &c, P, 0, true, nullptr, 0, false, 0x10, VM_PROT_READ, VM_INHERIT_SHARE),
            KERN_INVALID_ARGUMENT);
  EXPECT_EQ(vm_map(m, &c, P, 0, true, nullptr, 0, false, VM_PROT_READ, VM_PROT_READ, 9),
            KERN_INVALID_ARGUMENT);
  vm_map_deallocate(m);
}

TEST_F(VmMapTest, ManyEntriesStayOrdered) {
  VmMap* m = new_map();
  // Every other page allocated, then the gaps filled in reverse: all merge into one entry.
  for (int i = 0; i < 64; i += 2) {
    vaddr_t a = kTestMin + i * P;
    ASSERT_EQ(vm_allocate(m, &a, P, false), KERN_SUCCESS);
  }
  EXPECT_EQ(entry_count(m), 32u);
  for (int i = 63; i > 0; i -= 2) {
    vaddr_t a = kTestMin + i * P;
    ASSERT_EQ(vm_allocate(m, &a, P, false), KERN_SUCCESS);
  }
  EXPECT_EQ(entry_count(m), 1u);
  EXPECT_EQ(entry_at(m, kTestMin).end, kTestMin + 64 * P);
  vm_map_deallocate(m);
}

}  // namespace
