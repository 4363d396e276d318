// The pmap's reverse map, against the host pmap: one page mapped in several pmaps at several
// addresses, pmap_page_protect, the modified and referenced bits through every way a mapping
// can go, pmap_enter over another page's mapping, a shortage of pv entries, and the count of
// entries against what the machine-independent VM maps.
#include <gtest/gtest.h>

#include <vector>

#include "arch/host_arch.h"
#include "arch/host_pmap.h"
#include "vm_test_util.h"

namespace {

constexpr vaddr_t P = kPageSize;
constexpr vaddr_t kVa = 0x400000;
constexpr unsigned kRW = kProtRead | kProtWrite;
constexpr unsigned kRWX = kProtRead | kProtWrite | kProtExecute;
// An address the page allocator does not manage (no VmPage): a device's, say.
constexpr paddr_t kUnmanaged = 0xfee00000;

class PmapPvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PhysRange all = host_phys_all();
    vm_page_bootstrap(&all, 1);
    ASSERT_EQ(pmap_pv_entries(), 0u);
  }

  void TearDown() override {
    for (Pmap* p : pmaps_) pmap_destroy(p);
    for (VmPage* p : pages_) vm_page_release(p);
    EXPECT_EQ(pmap_pv_entries(), 0u);
    EXPECT_EQ(host_pmap_alive(), 0u);
    host_pmap_fail_next_pv_allocs(0);
  }

  Pmap* new_pmap() {
    Pmap* p = pmap_create();
    pmaps_.push_back(p);
    return p;
  }

  void destroy(Pmap* p) {
    std::erase(pmaps_, p);
    pmap_destroy(p);
  }

  // A page fresh from the allocator, its attributes cleared (they outlive a page's reuse).
  paddr_t new_page() {
    VmPage* p = vm_page_grab();
    EXPECT_NE(p, nullptr);
    pages_.push_back(p);
    paddr_t pa = vm_page_to_phys(p);
    pmap_clear_modify(pa);
    pmap_clear_reference(pa);
    return pa;
  }

  static unsigned prot_at(Pmap* pmap, vaddr_t va) {
    paddr_t pa;
    unsigned prot;
    return host_pmap_lookup(pmap, va, &pa, &prot) ? prot : kProtNone;
  }

  static bool maps(Pmap* pmap, vaddr_t va, paddr_t want) {
    paddr_t pa;
    return pmap_extract(pmap, va, &pa) && pa == want;
  }

  std::vector<Pmap*> pmaps_;
  std::vector<VmPage*> pages_;
};

TEST_F(PmapPvTest, PageProtectActsOnEveryMappingOfThePage) {
  Pmap* p = new_pmap();
  Pmap* q = new_pmap();
  Pmap* r = new_pmap();
  paddr_t a = new_page();
  paddr_t b = new_page();
  ASSERT_TRUE(pmap_enter(p, kVa, a, kRWX));
  ASSERT_TRUE(pmap_enter(p, kVa + 7 * P, a, kRW));
  ASSERT_TRUE(pmap_enter(q, kVa, a, kRW));
  ASSERT_TRUE(pmap_enter(r, kVa + 100 * P, a, kProtRead));
  ASSERT_TRUE(pmap_enter(p, kVa + P, b, kRW));  // another page, next door: left alone
  EXPECT_EQ(pmap_pv_entries(), 5u);

  // Taking execute away keeps read and write.
  pmap_page_protect(a, kRW);
  EXPECT_EQ(prot_at(p, kVa), kRW);
  EXPECT_EQ(prot_at(p, kVa + 7 * P), kRW);

  pmap_page_protect(a, kProtRead);
  EXPECT_EQ(prot_at(p, kVa), kProtRead);
  EXPECT_EQ(prot_at(p, kVa + 7 * P), kProtRead);
  EXPECT_EQ(prot_at(q, kVa), kProtRead);
  EXPECT_EQ(prot_at(r, kVa + 100 * P), kProtRead);
  EXPECT_EQ(prot_at(p, kVa + P), kRW);
  EXPECT_FALSE(host_pmap_access(q, kVa, kProtWrite));
  EXPECT_TRUE(host_pmap_access(q, kVa, kProtRead));
  EXPECT_EQ(pmap_pv_entries(), 5u);

  pmap_page_protect(a, kProtNone);
  EXPECT_FALSE(maps(p, kVa, a));
  EXPECT_FALSE(maps(p, kVa + 7 * P, a));
  EXPECT_FALSE(maps(q, kVa, a));
  EXPECT_FALSE(maps(r, kVa + 100 * P, a));
  EXPECT_TRUE(maps(p, kVa + P, b));
  EXPECT_EQ(prot_at(p, kVa + P), kRW);
  EXPECT_EQ(pmap_stats(p).mapped_pages, 1u);
  EXPECT_EQ(pmap_stats(q).mapped_pages, 0u);
  EXPECT_EQ(pmap_stats(r).mapped_pages, 0u);
  EXPECT_EQ(pmap_pv_entries(), 1u);

  // Without read, nothing can stay mapped (a pager locking reads asks for write|execute).
  ASSERT_TRUE(pmap_enter(q, kVa, a, kRW));
  ASSERT_TRUE(pmap_enter(r, kVa, a, kProtRead));
  pmap_page_protect(a, kProtWrite | kProtExecute);
  EXPECT_FALSE(maps(q, kVa, a));
  EXPECT_FALSE(maps(r, kVa, a));
  EXPECT_EQ(pmap_pv_entries(), 1u);

  // Nothing left to act on: harmless.
  pmap_page_protect(a, kProtNone);
  pmap_page_protect(a, kProtRead);
  EXPECT_EQ(pmap_pv_entries(), 1u);
  // The page can be mapped again afterwards.
  ASSERT_TRUE(pmap_enter(q, kVa, a, kRW));
  EXPECT_EQ(prot_at(q, kVa), kRW);
  EXPECT_EQ(pmap_pv_entries(), 2u);
}

TEST_F(PmapPvTest, BitsComeFromTheAccessesAndClearSeparately) {
  Pmap* p = new_pmap();
  paddr_t a = new_page();
  paddr_t b = new_page();
  ASSERT_TRUE(pmap_enter(p, kVa, a, kRW));
  ASSERT_TRUE(pmap_enter(p, kVa + P, b, kRW));
  EXPECT_FALSE(pmap_is_referenced(a));
  EXPECT_FALSE(pmap_is_modified(a));
  ASSERT_TRUE(host_pmap_access(p, kVa, kProtRead));
  EXPECT_TRUE(pmap_is_referenced(a));
  EXPECT_FALSE(pmap_is_modified(a));
  ASSERT_TRUE(host_pmap_access(p, kVa, kProtWrite));
  EXPECT_TRUE(pmap_is_modified(a));
  // The bits are the page's: the neighbour saw nothing.
  EXPECT_FALSE(pmap_is_referenced(b));
  EXPECT_FALSE(pmap_is_modified(b));

  pmap_clear_modify(a);
  EXPECT_FALSE(pmap_is_modified(a));
  EXPECT_TRUE(pmap_is_referenced(a));
  pmap_clear_reference(a);
  EXPECT_FALSE(pmap_is_referenced(a));
  // Cleared in the translation too: the next write sets it again.
  ASSERT_TRUE(host_pmap_access(p, kVa, kProtWrite));
  EXPECT_TRUE(pmap_is_modified(a));
  EXPECT_TRUE(pmap_is_referenced(a));
  // A read-only translation takes no write, and so no dirty bit.
  pmap_clear_modify(a);
  pmap_protect(p, kVa, kVa + P, kProtRead);
  EXPECT_FALSE(host_pmap_access(p, kVa, kProtWrite));
  EXPECT_FALSE(pmap_is_modified(a));
}

TEST_F(PmapPvTest, BitsSurviveEveryWayAMappingGoes) {
  paddr_t a = new_page();
  auto dirty_mapping = [&](Pmap* pmap, vaddr_t va) {
    pmap_clear_modify(a);
    pmap_clear_reference(a);
    ASSERT_TRUE(pmap_enter(pmap, va, a, kRW));
    ASSERT_TRUE(host_pmap_access(pmap, va, kProtWrite));
  };
  auto expect_kept = [&](const char* how) {
    EXPECT_TRUE(pmap_is_modified(a)) << how;
    EXPECT_TRUE(pmap_is_referenced(a)) << how;
  };
  Pmap* p = new_pmap();

  dirty_mapping(p, kVa);
  pmap_remove(p, kVa, kVa + P);
  EXPECT_EQ(pmap_stats(p).mapped_pages, 0u);
  expect_kept("pmap_remove");
  // Re-entering the page does not forget the bits of its earlier mapping.
  ASSERT_TRUE(pmap_enter(p, kVa + 3 * P, a, kRW));
  expect_kept("re-entered");
  pmap_remove(p, kVa + 3 * P, kVa + 4 * P);

  dirty_mapping(p, kVa);
  pmap_protect(p, kVa, kVa + P, kProtNone);
  expect_kept("pmap_protect to none");

  dirty_mapping(p, kVa);
  pmap_page_protect(a, kProtNone);
  expect_kept("pmap_page_protect to none");

  dirty_mapping(p, kVa);
  pmap_page_protect(a, kProtRead);
  expect_kept("pmap_page_protect to read");
  pmap_remove(p, kVa, kVa + P);

  // New rights for the same page: the bits stay.
  dirty_mapping(p, kVa);
  ASSERT_TRUE(pmap_enter(p, kVa, a, kProtRead));
  expect_kept("pmap_enter, same page");
  pmap_remove(p, kVa, kVa + P);

  dirty_mapping(p, kVa);
  destroy(p);
  expect_kept("pmap_destroy");
  Pmap* q = new_pmap();
  ASSERT_TRUE(pmap_enter(q, kVa, a, kRW));
  expect_kept("entered in another pmap");
  // Clearing reaches both the record and the live translation.
  pmap_clear_modify(a);
  pmap_clear_reference(a);
  EXPECT_FALSE(pmap_is_modified(a));
  EXPECT_FALSE(pmap_is_referenced(a));
}

TEST_F(PmapPvTest, EnterOverAnotherPageMovesTheEntry) {
  Pmap* p = new_pmap();
  Pmap* q = new_pmap();
  paddr_t a = new_page();
  paddr_t b = new_page();
  ASSERT_TRUE(pmap_enter(p, kVa, a, kRW));
  ASSERT_TRUE(pmap_enter(q, kVa, a, kRW));
  ASSERT_TRUE(host_pmap_access(p, kVa, kProtWrite));
  ASSERT_TRUE(pmap_enter(p, kVa, b, kRW));
  EXPECT_EQ(pmap_pv_entries(), 2u);
  EXPECT_EQ(pmap_stats(p).mapped_pages, 1u);
  // The old page keeps the dirty bit of the translation it lost; the new one starts clean.
  EXPECT_TRUE(pmap_is_modified(a));
  EXPECT_FALSE(pmap_is_modified(b));
  EXPECT_FALSE(pmap_is_referenced(b));
  // A's list no longer has p's mapping: removing A's mappings leaves p's (now B) alone.
  pmap_page_protect(a, kProtNone);
  EXPECT_TRUE(maps(p, kVa, b));
  EXPECT_FALSE(maps(q, kVa, a));
  EXPECT_EQ(pmap_pv_entries(), 1u);
  // And B's list has it.
  pmap_page_protect(b, kProtRead);
  EXPECT_EQ(prot_at(p, kVa), kProtRead);
  pmap_page_protect(b, kProtNone);
  EXPECT_FALSE(maps(p, kVa, b));
  EXPECT_EQ(pmap_pv_entries(), 0u);
}

TEST_F(PmapPvTest, UnmanagedPagesHaveNoReverseMap) {
  Pmap* p = new_pmap();
  paddr_t a = new_page();
  ASSERT_EQ(vm_page_from_phys(kUnmanaged), nullptr);
  ASSERT_TRUE(pmap_enter(p, kVa, kUnmanaged, kRW));
  EXPECT_EQ(pmap_pv_entries(), 0u);
  ASSERT_TRUE(host_pmap_access(p, kVa, kProtWrite));
  EXPECT_FALSE(pmap_is_modified(kUnmanaged));
  EXPECT_FALSE(pmap_is_referenced(kUnmanaged));
  pmap_clear_modify(kUnmanaged);
  pmap_page_protect(kUnmanaged, kProtNone);
  EXPECT_TRUE(maps(p, kVa, kUnmanaged));
  // Managed over unmanaged takes an entry; unmanaged over managed gives it back.
  ASSERT_TRUE(pmap_enter(p, kVa, a, kRW));
  EXPECT_EQ(pmap_pv_entries(), 1u);
  ASSERT_TRUE(host_pmap_access(p, kVa, kProtWrite));
  ASSERT_TRUE(pmap_enter(p, kVa, kUnmanaged, kRW));
  EXPECT_EQ(pmap_pv_entries(), 0u);
  EXPECT_TRUE(pmap_is_modified(a));
  pmap_page_protect(a, kProtNone);
  EXPECT_TRUE(maps(p, kVa, kUnmanaged));
}

TEST_F(PmapPvTest, ShortageOfEntriesLeavesNothingHalfDone) {
  Pmap* p = new_pmap();
  paddr_t a = new_page();
  paddr_t b = new_page();

  // A new mapping: refused, nothing entered.
  host_pmap_fail_next_pv_allocs(1);
  EXPECT_FALSE(pmap_enter(p, kVa, a, kRW));
  EXPECT_FALSE(maps(p, kVa, a));
  EXPECT_EQ(pmap_stats(p).mapped_pages, 0u);
  EXPECT_EQ(pmap_pv_entries(), 0u);
  pmap_page_protect(a, kProtNone);  // finds nothing to remove
  ASSERT_TRUE(pmap_enter(p, kVa, a, kRW));  // the shortage is over

  // Over an unmanaged translation: refused, and the old one is still there, unchanged.
  ASSERT_TRUE(pmap_enter(p, kVa + P, kUnmanaged, kProtRead));
  host_pmap_fail_next_pv_allocs(1);
  EXPECT_FALSE(pmap_enter(p, kVa + P, b, kRW));
  EXPECT_TRUE(maps(p, kVa + P, kUnmanaged));
  EXPECT_EQ(prot_at(p, kVa + P), kProtRead);
  EXPECT_FALSE(maps(p, kVa + P, b));
  EXPECT_EQ(pmap_pv_entries(), 1u);
  host_pmap_fail_next_pv_allocs(0);

  // What needs no new entry still works during a shortage: new rights for the same page, and
  // a managed page over another (the entry moves).
  host_pmap_fail_next_pv_allocs(100);
  ASSERT_TRUE(host_pmap_access(p, kVa, kProtWrite));
  EXPECT_TRUE(pmap_enter(p, kVa, a, kProtRead));
  EXPECT_EQ(prot_at(p, kVa), kProtRead);
  EXPECT_TRUE(pmap_enter(p, kVa, b, kRW));
  EXPECT_TRUE(maps(p, kVa, b));
  EXPECT_TRUE(pmap_is_modified(a));
  EXPECT_EQ(pmap_pv_entries(), 1u);
  host_pmap_fail_next_pv_allocs(0);
}

TEST_F(PmapPvTest, EveryEntryIsFreedWithItsMappings) {
  constexpr size_t kPages = 64;
  std::vector<paddr_t> pages;
  for (size_t i = 0; i < kPages; ++i) pages.push_back(new_page());
  Pmap* p = new_pmap();
  Pmap* q = new_pmap();
  Pmap* r = new_pmap();
  for (size_t i = 0; i < kPages; ++i) {
    ASSERT_TRUE(pmap_enter(p, kVa + i * P, pages[i], kRW));
    ASSERT_TRUE(pmap_enter(q, kVa + i * P, pages[i], kRW));
    ASSERT_TRUE(pmap_enter(q, kVa + (kPages + i) * P, pages[(i + 1) % kPages], kRW));
    ASSERT_TRUE(pmap_enter(r, kVa + i * P, pages[i], kRW));
  }
  EXPECT_EQ(pmap_pv_entries(), 4 * kPages);
  pmap_remove(p, kVa, kVa + kPages / 2 * P);
  EXPECT_EQ(pmap_pv_entries(), 4 * kPages - kPages / 2);
  for (size_t i = 0; i < kPages; i += 3) pmap_page_protect(pages[i], kProtNone);
  destroy(q);  // with its mappings left
  destroy(r);
  EXPECT_EQ(pmap_pv_entries(), pmap_stats(p).mapped_pages);
  destroy(p);
  EXPECT_EQ(pmap_pv_entries(), 0u);
}

// The machine-independent VM drives the pmap through faults, copy-on-write and fork: every
// translation it leaves has exactly one pv entry, and none is left once the maps are gone.
class PmapPvVmTest : public VmTest {
 protected:
  static size_t translations(std::initializer_list<VmMap*> maps) {
    size_t n = 0;
    for (VmMap* m : maps) n += host_pmap_count(m->pmap);
    return n;
  }
};

TEST_F(PmapPvVmTest, EntriesFollowTheVmThroughForkAndCopyOnWrite) {
  VmMap* parent = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(parent, &a, 16 * P, true), KERN_SUCCESS);
  for (size_t i = 0; i < 16; ++i) user_write(parent, a + i * P, static_cast<uint8_t>(i));
  EXPECT_EQ(pmap_pv_entries(), translations({parent}));
  VmMap* child = vm_map_fork(parent);
  ASSERT_NE(child, nullptr);
  for (size_t i = 0; i < 16; i += 2) EXPECT_EQ(user_read(child, a + i * P), i);
  for (size_t i = 0; i < 16; i += 3) user_write(child, a + i * P, 0xc0);
  for (size_t i = 1; i < 16; i += 4) user_write(parent, a + i * P, 0xf0);
  EXPECT_GT(pmap_pv_entries(), 16u);
  EXPECT_EQ(pmap_pv_entries(), translations({parent, child}));
  ASSERT_EQ(vm_deallocate(parent, a + 4 * P, 4 * P), KERN_SUCCESS);
  EXPECT_EQ(pmap_pv_entries(), translations({parent, child}));
  vm_map_deallocate(child);
  EXPECT_EQ(pmap_pv_entries(), translations({parent}));
  vm_map_deallocate(parent);
  EXPECT_EQ(pmap_pv_entries(), 0u);
}

}  // namespace
