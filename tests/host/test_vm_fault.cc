// The fault path against the host pmap: zero fill, protection, copy-on-write after vm_copy and
// after fork, share inheritance, the cost of copies (counted, not timed), wiring, and
// long fork/terminate runs that must leave chains short and memory at its baseline.
#include <thread>
#include <vector>

#include "arch/sched_stub.h"
#include "vm_test_util.h"

namespace {

constexpr vaddr_t P = kPageSize;

using VmFaultTest = VmTest;

TEST_F(VmFaultTest, ZeroFillOnFirstTouch) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 4 * P, true), KERN_SUCCESS);
  EXPECT_EQ(entry_object(m, a), nullptr);  // no object until the first fault
  VmCounters c0 = vm_counters();
  EXPECT_EQ(user_read(m, a + 100), 0);
  VmCounters c1 = vm_counters();
  EXPECT_EQ(c1.zero_fill_count, c0.zero_fill_count + 1);
  EXPECT_EQ(c1.faults, c0.faults + 1);
  EXPECT_EQ(c1.resident_count, 1u);
  // A read of zero-fill memory is mapped with the entry's rights: no second fault to write.
  paddr_t pa;
  unsigned prot;
  ASSERT_TRUE(host_pmap_lookup(m->pmap, a, &pa, &prot));
  EXPECT_EQ(prot, unsigned{VM_PROT_DEFAULT});
  user_write(m, a + 100, 42);
  EXPECT_EQ(vm_counters().faults, c1.faults);
  // Every byte of a new page is zero, whatever the allocator left there.
  const uint8_t* bytes = static_cast<uint8_t*>(arch_phys_to_virt(pa));
  for (size_t i = 0; i < kPageSize; ++i) ASSERT_EQ(bytes[i], i == 100 ? 42 : 0) << i;
  vm_map_deallocate(m);
}

TEST_F(VmFaultTest, InvalidAddressAndProtection) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, P, true), KERN_SUCCESS);
  EXPECT_EQ(vm_fault(m, a + P, VM_PROT_READ), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_fault(m, kTestMin - P, VM_PROT_READ), KERN_INVALID_ADDRESS);
  EXPECT_EQ(vm_fault(m, a, VM_PROT_EXECUTE), KERN_PROTECTION_FAILURE);
  ASSERT_EQ(vm_protect(m, a, P, false, VM_PROT_READ | VM_PROT_EXECUTE), KERN_SUCCESS);
  EXPECT_EQ(vm_fault(m, a, VM_PROT_EXECUTE), KERN_SUCCESS);
  EXPECT_EQ(vm_fault(m, a, VM_PROT_WRITE), KERN_PROTECTION_FAILURE);
  vm_map_deallocate(m);
}

TEST_F(VmFaultTest, PmapIsOnlyACache) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 8 * P, true), KERN_SUCCESS);
  for (int i = 0; i < 8; ++i) user_write(m, a + i * P, static_cast<uint8_t>(i * 3));
  // Throw the whole pmap away: every byte comes back through faults.
  pmap_remove(m->pmap, a, a + 8 * P);
  EXPECT_EQ(host_pmap_count(m->pmap), 0u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(user_read(m, a + i * P), i * 3);
  vm_map_deallocate(m);
}

TEST_F(VmFaultTest, PmapShortageWaitsForMemoryAndRetries) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, P, true), KERN_SUCCESS);
  host_pmap_fail_next_enters(1);
  size_t blocks = host_block_count();
  EXPECT_EQ(vm_fault(m, a, VM_PROT_WRITE), KERN_SUCCESS);
  EXPECT_EQ(host_block_count(), blocks + 1);  // waited once for the pageout daemon
  user_write(m, a, 7);
  EXPECT_EQ(user_read(m, a), 7);
  EXPECT_EQ(vm_counters().resident_count, 1u);
  vm_map_deallocate(m);
}

TEST_F(VmFaultTest, CowAfterVmCopy) {
  VmMap* m = new_map();
  vaddr_t a = 0, b = 0;
  ASSERT_EQ(vm_allocate(m, &a, 4 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_allocate(m, &b, 4 * P, true), KERN_SUCCESS);
  for (int i = 0; i < 4; ++i) user_write(m, a + i * P, static_cast<uint8_t>(i + 1));
  ASSERT_EQ(vm_copy(m, a, 4 * P, b), KERN_SUCCESS);
  // The source lost its write access in the pmap.
  paddr_t pa, pb;
  unsigned prot;
  ASSERT_TRUE(host_pmap_lookup(m->pmap, a, &pa, &prot));
  EXPECT_EQ(prot & kProtWrite, 0u);
  // Reads of the destination share the source's physical pages.
  EXPECT_EQ(user_read(m, b), 1);
  ASSERT_TRUE(host_pmap_lookup(m->pmap, b, &pb, &prot));
  EXPECT_EQ(pa, pb);
  EXPECT_EQ(prot & kProtWrite, 0u);
  uint64_t cow = vm_counters().cow_faults;
  user_write(m, b, 0x55);
  EXPECT_EQ(vm_counters().cow_faults, cow + 1);
  ASSERT_TRUE(host_pmap_lookup(m->pmap, b, &pb, &prot));
  EXPECT_NE(pa, pb);
  EXPECT_EQ(user_read(m, a), 1);
  user_write(m, a + P, 0x66);
  EXPECT_EQ(user_read(m, b + P), 2);
  EXPECT_EQ(user_read(m, a + P), 0x66);
  EXPECT_EQ(user_read(m, b), 0x55);
  vm_map_deallocate(m);
}

TEST_F(VmFaultTest, ForkParentAndChildSeeOnlyTheirWrites) {
  VmMap* parent = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(parent, &a, 4 * P, true), KERN_SUCCESS);
  for (int i = 0; i < 4; ++i) user_write(parent, a + i * P, 10);
  VmMap* child = vm_map_fork(parent);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(user_read(child, a), 10);
  user_write(parent, a, 1);
  user_write(child, a, 2);
  user_write(child, a + P, 3);
  user_write(parent, a + 2 * P, 4);
  EXPECT_EQ(user_read(parent, a), 1);
  EXPECT_EQ(user_read(child, a), 2);
  EXPECT_EQ(user_read(parent, a + P), 10);
  EXPECT_EQ(user_read(child, a + P), 3);
  EXPECT_EQ(user_read(parent, a + 2 * P), 4);
  EXPECT_EQ(user_read(child, a + 2 * P), 10);
  EXPECT_EQ(user_read(parent, a + 3 * P), 10);
  EXPECT_EQ(user_read(child, a + 3 * P), 10);
  // The child ends: the parent's chain collapses back to one object.
  EXPECT_EQ(chain_length(parent, a), 2u);
  vm_map_deallocate(child);
  EXPECT_EQ(chain_length(parent, a), 1u);
  EXPECT_EQ(user_read(parent, a + 3 * P), 10);
  EXPECT_EQ(vm_counters().resident_count, 4u);
  vm_map_deallocate(parent);
}

TEST_F(VmFaultTest, ForkUntouchedMemoryAndNoneInheritance) {
  VmMap* parent = new_map();
  vaddr_t a = 0, b = 0;
  ASSERT_EQ(vm_allocate(parent, &a, 2 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_allocate(parent, &b, 2 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_inherit(parent, b, 2 * P, VM_INHERIT_NONE), KERN_SUCCESS);
  VmMap* child = vm_map_fork(parent);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(entry_count(child), 1u);
  uint8_t v;
  EXPECT_EQ(try_read(child, b, &v), KERN_INVALID_ADDRESS);
  user_write(child, a, 9);
  EXPECT_EQ(user_read(parent, a), 0);
  vm_map_deallocate(child);
  vm_map_deallocate(parent);
}

TEST_F(VmFaultTest, ShareInheritanceSeenByBoth) {
  VmMap* parent = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(parent, &a, 3 * P, true), KERN_SUCCESS);
  user_write(parent, a, 1);
  ASSERT_EQ(vm_inherit(parent, a, 3 * P, VM_INHERIT_SHARE), KERN_SUCCESS);
  VmMap* child = vm_map_fork(parent);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(entry_object(child, a), entry_object(parent, a));
  EXPECT_EQ(user_read(child, a), 1);
  user_write(child, a, 2);
  user_write(parent, a + P, 3);
  EXPECT_EQ(user_read(parent, a), 2);
  EXPECT_EQ(user_read(child, a + P), 3);
  user_write(child, a + 2 * P, 4);
  EXPECT_EQ(user_read(parent, a + 2 * P), 4);
  vaddr_t addr = a;
  vm_size_t size;
  vm_prot_t prot, max;
  vm_inherit_t inh;
  bool shared = false;
  vm_offset_t off;
  ASSERT_EQ(vm_region(child, &addr, &size, &prot, &max, &inh, &shared, &off), KERN_SUCCESS);
  EXPECT_TRUE(shared);
  // A grandchild by share sees the same memory too; one by copy sees a snapshot.
  VmMap* grandchild = vm_map_fork(child);
  ASSERT_EQ(vm_inherit(child, a, 3 * P, VM_INHERIT_COPY), KERN_SUCCESS);
  VmMap* copy_child = vm_map_fork(child);
  user_write(grandchild, a, 5);
  EXPECT_EQ(user_read(parent, a), 5);
  EXPECT_EQ(user_read(copy_child, a), 2);
  user_write(copy_child, a + P, 6);
  EXPECT_EQ(user_read(parent, a + P), 3);
  vm_map_deallocate(copy_child);
  vm_map_deallocate(grandchild);
  vm_map_deallocate(parent);
  EXPECT_EQ(user_read(child, a), 5);
  vm_map_deallocate(child);
}

TEST_F(VmFaultTest, ShareOfCopyOnWriteMemory) {
  // The parent's range is copy-on-write (after a vm_copy) when it is shared: the shared object
  // is a shadow, and neither side may keep reading the old page once the other writes.
  VmMap* parent = new_map();
  vaddr_t a = 0, b = 0;
  ASSERT_EQ(vm_allocate(parent, &a, P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_allocate(parent, &b, P, true), KERN_SUCCESS);
  user_write(parent, a, 1);
  ASSERT_EQ(vm_copy(parent, a, P, b), KERN_SUCCESS);
  EXPECT_EQ(user_read(parent, b), 1);
  ASSERT_EQ(vm_inherit(parent, b, P, VM_INHERIT_SHARE), KERN_SUCCESS);
  VmMap* child = vm_map_fork(parent);
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(user_read(parent, b), 1);
  EXPECT_EQ(user_read(child, b), 1);
  user_write(child, b, 2);
  EXPECT_EQ(user_read(parent, b), 2);
  user_write(parent, b, 3);
  EXPECT_EQ(user_read(child, b), 3);
  EXPECT_EQ(user_read(parent, a), 1);
  EXPECT_EQ(user_read(child, a), 1);
  vm_map_deallocate(child);
  vm_map_deallocate(parent);
}

TEST_F(VmFaultTest, Copy16MiBCostsNoPageCopiesUntilWritten) {
  constexpr vm_size_t kSize = 16u << 20;
  constexpr size_t kPages = kSize / kPageSize;
  VmMap* m = new_map();
  vaddr_t a = 0, b = 0;
  ASSERT_EQ(vm_allocate(m, &a, kSize, true), KERN_SUCCESS);
  ASSERT_EQ(vm_allocate(m, &b, kSize, true), KERN_SUCCESS);
  for (size_t i = 0; i < kPages; ++i) user_write(m, a + i * P, static_cast<uint8_t>(i));
  size_t free_before = vm_page_stats().free_pages;
  uint64_t resident_before = vm_counters().resident_count;
  uint64_t copies = vm_counters().page_copies;
  ASSERT_EQ(vm_copy(m, a, kSize, b), KERN_SUCCESS);
  EXPECT_EQ(vm_counters().page_copies, copies);
  EXPECT_EQ(vm_counters().resident_count, resident_before);
  // At most a zone page for the copy's bookkeeping, never the 4096 pages of data.
  EXPECT_LE(free_before - vm_page_stats().free_pages, 1u);
  // Reading all of it copies nothing either.
  for (size_t i = 0; i < kPages; i += 97) EXPECT_EQ(user_read(m, b + i * P), static_cast<uint8_t>(i));
  EXPECT_EQ(vm_counters().page_copies, copies);
  // Each page written costs exactly one copy, and the work per fault does not depend on the
  // object's size: no collapse or page walk happens on these faults.
  VmCounters c0 = vm_counters();
  for (size_t i = 0; i < 64; ++i) user_write(m, b + i * 61 * P, 0xee);
  VmCounters c1 = vm_counters();
  EXPECT_EQ(c1.page_copies, c0.page_copies + 64);
  EXPECT_EQ(c1.cow_faults, c0.cow_faults + 64);
  EXPECT_EQ(c1.collapse_pages_moved + c1.collapse_pages_freed,
            c0.collapse_pages_moved + c0.collapse_pages_freed);
  EXPECT_EQ(c1.lookups - c0.lookups, 2u * 64);  // top, then the backing object: per fault
  EXPECT_EQ(user_read(m, a + 61 * P), static_cast<uint8_t>(61));
  vm_map_deallocate(m);
}

TEST_F(VmFaultTest, ThousandForkTerminateCycles) {
  VmMap* parent = new_map();
  constexpr size_t kPages = 16;
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(parent, &a, kPages * P, true), KERN_SUCCESS);
  for (size_t i = 0; i < kPages; ++i) user_write(parent, a + i * P, 1);
  // One warm-up cycle so that the zones have grown to their working size.
  {
    VmMap* child = vm_map_fork(parent);
    user_write(child, a, 2);
    user_write(parent, a, 1);
    vm_map_deallocate(child);
  }
  size_t free_base = vm_page_stats().free_pages;
  uint64_t resident_base = vm_counters().resident_count;
  size_t max_chain = 0;
  for (int cycle = 0; cycle < 1000; ++cycle) {
    VmMap* child = vm_map_fork(parent);
    ASSERT_NE(child, nullptr);
    size_t i = cycle % kPages;
    user_write(child, a + i * P, static_cast<uint8_t>(cycle));
    if (cycle % 3 != 0) user_write(parent, a + ((i + 5) % kPages) * P, static_cast<uint8_t>(cycle));
    EXPECT_EQ(user_read(child, a + i * P), static_cast<uint8_t>(cycle));
    size_t len = chain_length(parent, a);
    if (len > max_chain) max_chain = len;
    vm_map_deallocate(child);
    ASSERT_LE(chain_length(parent, a), 2u) << cycle;
  }
  EXPECT_LE(max_chain, 2u);
  EXPECT_EQ(chain_length(parent, a), 1u);
  EXPECT_EQ(vm_counters().resident_count, resident_base);
  EXPECT_EQ(vm_page_stats().free_pages, free_base);
  EXPECT_EQ(vm_counters().objects_alive, 1u);
  vm_map_deallocate(parent);
}

TEST_F(VmFaultTest, WireAndUnwire) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 4 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_wire(m, a + P, 2 * P, VM_PROT_READ | VM_PROT_WRITE), KERN_SUCCESS);
  EXPECT_EQ(vm_counters().wire_count, 2u);
  EXPECT_EQ(vm_counters().resident_count, 2u);
  EXPECT_EQ(entry_at(m, a + P).wired_count, 1u);
  EXPECT_EQ(entry_count(m), 3u);
  EXPECT_EQ(m->size_wired, 2 * P);
  // Wiring again counts; one unwiring leaves it wired.
  ASSERT_EQ(vm_wire(m, a + P, 2 * P, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(m->size_wired, 2 * P);
  ASSERT_EQ(vm_wire(m, a + P, 2 * P, VM_PROT_NONE), KERN_SUCCESS);
  EXPECT_EQ(vm_counters().wire_count, 2u);
  EXPECT_EQ(m->size_wired, 2 * P);
  ASSERT_EQ(vm_wire(m, a + P, 2 * P, VM_PROT_NONE), KERN_SUCCESS);
  EXPECT_EQ(vm_counters().wire_count, 0u);
  EXPECT_EQ(m->size_wired, 0u);
  // The wired part got its object when it was wired; the untouched parts have none yet.
  EXPECT_EQ(entry_count(m), 3u);
  EXPECT_EQ(entry_at(m, a + P).wired_count, 0u);
  EXPECT_EQ(vm_wire(m, a, P, VM_PROT_NONE), KERN_INVALID_ARGUMENT);
  // GNU Mach's answers: an unmapped start, a hole, an access beyond the protection are
  // KERN_NO_SPACE.
  EXPECT_EQ(vm_wire(m, a + 8 * P, P, VM_PROT_READ), KERN_NO_SPACE);
  EXPECT_EQ(vm_wire(m, a, 8 * P, VM_PROT_READ), KERN_NO_SPACE);  // hole
  EXPECT_EQ(vm_wire(m, a, P, 0x20), KERN_INVALID_ARGUMENT);
  ASSERT_EQ(vm_protect(m, a, P, false, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(vm_wire(m, a, P, VM_PROT_WRITE), KERN_NO_SPACE);
  EXPECT_EQ(vm_counters().wire_count, 0u);
  EXPECT_EQ(m->size_wired, 0u);
  // Deallocating wired memory unwires it.
  ASSERT_EQ(vm_wire(m, a + 2 * P, 2 * P, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(m->size_wired, 2 * P);
  ASSERT_EQ(vm_deallocate(m, a, 4 * P), KERN_SUCCESS);
  EXPECT_EQ(vm_counters().wire_count, 0u);
  EXPECT_EQ(m->size_wired, 0u);
  vm_map_deallocate(m);
}

TEST_F(VmFaultTest, WiringCopyOnWriteMemoryTakesPrivatePages) {
  VmMap* m = new_map();
  vaddr_t a = 0, b = 0;
  ASSERT_EQ(vm_allocate(m, &a, 2 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_allocate(m, &b, 2 * P, true), KERN_SUCCESS);
  user_write(m, a, 1);
  ASSERT_EQ(vm_copy(m, a, 2 * P, b), KERN_SUCCESS);
  ASSERT_EQ(vm_wire(m, b, 2 * P, VM_PROT_READ), KERN_SUCCESS);
  EXPECT_EQ(page_owner(m, b), entry_object(m, b));
  EXPECT_EQ(page_owner(m, b + P), entry_object(m, b));
  EXPECT_FALSE(entry_at(m, b).needs_copy);
  // A copy of wired memory is made at once; writes stay apart.
  vaddr_t c = 0;
  ASSERT_EQ(vm_allocate(m, &c, 2 * P, true), KERN_SUCCESS);
  uint64_t copies = vm_counters().page_copies;
  ASSERT_EQ(vm_copy(m, b, 2 * P, c), KERN_SUCCESS);
  EXPECT_EQ(vm_counters().page_copies, copies + 2);
  user_write(m, b, 7);
  EXPECT_EQ(user_read(m, c), 1);
  EXPECT_EQ(user_read(m, a), 1);
  ASSERT_EQ(vm_wire(m, b, 2 * P, VM_PROT_NONE), KERN_SUCCESS);
  vm_map_deallocate(m);
}

TEST_F(VmFaultTest, ChangeWiringFault) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_fault(m, a, VM_PROT_READ, true), KERN_SUCCESS);
  EXPECT_EQ(vm_counters().wire_count, 1u);
  vm_fault_unwire(m, a);
  EXPECT_EQ(vm_counters().wire_count, 0u);
  vm_map_deallocate(m);
}

// Several CPUs fork the same parent, write in their children and end them, while the parent
// writes: object locks, collapses that meet a busy shadow, and the counters stay consistent.
TEST_F(VmFaultTest, ConcurrentForksOfOneParent) {
  VmMap* parent = new_map();
  constexpr size_t kPages = 8;
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(parent, &a, kPages * P, true), KERN_SUCCESS);
  for (size_t i = 0; i < kPages; ++i) user_write(parent, a + i * P, 1);
  std::vector<std::thread> cpus;
  for (unsigned cpu = 1; cpu <= 3; ++cpu) {
    cpus.emplace_back([&, cpu] {
      host_set_cpu_id(cpu);
      for (int round = 0; round < 200; ++round) {
        VmMap* child = vm_map_fork(parent);
        ASSERT_NE(child, nullptr);
        size_t i = (round + cpu) % kPages;
        user_write(child, a + i * P, static_cast<uint8_t>(cpu));
        EXPECT_EQ(user_read(child, a + i * P), cpu);
        vm_map_deallocate(child);
      }
    });
  }
  for (int round = 0; round < 600; ++round) user_write(parent, a + (round % kPages) * P, 1);
  for (auto& t : cpus) t.join();
  for (size_t i = 0; i < kPages; ++i) EXPECT_EQ(user_read(parent, a + i * P), 1);
  // A collapse that met a busy shadow was skipped then, and made up by a later fault: after
  // one more fault the parent's chain is a single object again.
  user_write(parent, a, 1);
  EXPECT_EQ(chain_length(parent, a), 1u);
  vm_map_deallocate(parent);
  EXPECT_EQ(vm_counters().objects_alive, 0u);
}

}  // namespace
