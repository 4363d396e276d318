// The physical page allocator: bootstrap over a memory map with holes, counters, the buddy
// allocator's splitting, coalescing, alignment and exhaustion, and phys <-> page lookups.
#include <gtest/gtest.h>
#include <string.h>

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "arch/host_arch.h"
#include "machine/cpu.h"
#include "vm/vm_page.h"

namespace {

constexpr paddr_t kMiB = 1u << 20;

size_t pages_for_array(size_t total) {
  return (total * sizeof(VmPage) + kPageSize - 1) / kPageSize;
}

void bootstrap_with_holes() {
  PhysRange r[8];
  size_t n = host_phys_ranges_with_holes(r, 8);
  vm_page_bootstrap(r, n);
}

// One 32 MiB range at physical 4 MiB: every block boundary is predictable.
constexpr PhysRange kSimple = {4 * kMiB, 36 * kMiB};

void bootstrap_simple() { vm_page_bootstrap(&kSimple, 1); }

bool same_free_blocks(const VmPageStats& a, const VmPageStats& b) {
  return std::equal(a.free_blocks, a.free_blocks + kVmPageOrders, b.free_blocks);
}

size_t free_pages_by_blocks(const VmPageStats& s) {
  size_t n = 0;
  for (unsigned k = 0; k < kVmPageOrders; ++k) n += s.free_blocks[k] << k;
  return n;
}

// Marks the pages of a block in a bitmap of the arena; fails if one is already marked.
class PageBitmap {
 public:
  PageBitmap() : bits_(kHostPhysSize / kPageSize) {}
  bool claim(paddr_t pa, size_t npages) {
    for (size_t i = 0; i < npages; ++i) {
      size_t idx = (pa - kHostPhysBase) / kPageSize + i;
      if (idx >= bits_.size() || bits_[idx]) return false;
      bits_[idx] = true;
    }
    return true;
  }
  void release(paddr_t pa, size_t npages) {
    for (size_t i = 0; i < npages; ++i) bits_[(pa - kHostPhysBase) / kPageSize + i] = false;
  }

 private:
  std::vector<bool> bits_;
};

TEST(VmPage, BootstrapWithHoles) {
  bootstrap_with_holes();
  VmPageStats s = vm_page_stats();
  // The map in host_phys_ranges_with_holes, trimmed to whole pages: 636 KiB - 4 KiB of low
  // memory, 19 MiB - 16 KiB, 24 MiB (two touching ranges merged), 12 MiB - 8 KiB.
  const size_t total = 159 + 4860 + 6144 + 3070;
  EXPECT_EQ(s.total_pages, total);
  EXPECT_EQ(s.segments, 4u);
  EXPECT_EQ(s.reserved_pages, pages_for_array(total));
  EXPECT_EQ(s.free_pages, total - s.reserved_pages);
  EXPECT_EQ(s.allocated_pages, 0u);
  EXPECT_EQ(s.alloc_failures, 0u);
  EXPECT_EQ(free_pages_by_blocks(s), s.free_pages);

  const paddr_t b = kHostPhysBase;
  // Holes and trimmed edges are not managed.
  EXPECT_EQ(vm_page_from_phys(b), nullptr);  // before the 0x123 start, rounded up
  EXPECT_EQ(vm_page_from_phys(b + 640 * 1024), nullptr);
  EXPECT_EQ(vm_page_from_phys(b + 1 * kMiB), nullptr);
  EXPECT_EQ(vm_page_from_phys(b + 20 * kMiB - kPageSize), nullptr);  // trimmed end
  EXPECT_EQ(vm_page_from_phys(b + 50 * kMiB), nullptr);              // sub-page range
  EXPECT_EQ(vm_page_from_phys(b + 64 * kMiB - kPageSize), nullptr);
  EXPECT_EQ(vm_page_from_phys(0), nullptr);
  EXPECT_EQ(vm_page_from_phys(~paddr_t{0}), nullptr);
  // Edges that are managed.
  EXPECT_NE(vm_page_from_phys(b + kPageSize), nullptr);
  EXPECT_NE(vm_page_from_phys(b + 1 * kMiB + 3 * kPageSize), nullptr);
  EXPECT_NE(vm_page_from_phys(b + 20 * kMiB - 2 * kPageSize), nullptr);
  EXPECT_NE(vm_page_from_phys(b + 40 * kMiB - kPageSize), nullptr);
  EXPECT_NE(vm_page_from_phys(b + 40 * kMiB), nullptr);

  // The array sits at the start of the largest range (the merged 24 MiB) and is reserved.
  VmPage* first = vm_page_from_phys(b + 24 * kMiB);
  ASSERT_NE(first, nullptr);
  // The array lists the segments in address order: it starts with the lowest page's VmPage.
  EXPECT_EQ(vm_page_to_virt(first), static_cast<void*>(vm_page_from_phys(b + kPageSize)));
  EXPECT_TRUE(first->flags & kVmPageReserved);
  VmPage* after = vm_page_from_phys(b + 24 * kMiB + s.reserved_pages * kPageSize);
  EXPECT_FALSE(after->flags & kVmPageReserved);
}

TEST(VmPage, PhysPageRoundTrips) {
  bootstrap_with_holes();
  PhysRange r[8];
  size_t n = host_phys_ranges_with_holes(r, 8);
  size_t seen = 0;
  for (size_t i = 0; i < n; ++i) {
    for (paddr_t pa = round_page(r[i].base); pa + kPageSize <= r[i].end; pa += kPageSize) {
      VmPage* p = vm_page_from_phys(pa);
      ASSERT_NE(p, nullptr) << std::hex << pa;
      EXPECT_EQ(vm_page_to_phys(p), pa);
      EXPECT_EQ(vm_page_from_phys(pa + 123), p);  // any address inside the page
      EXPECT_EQ(arch_virt_to_phys(vm_page_to_virt(p)), pa);
      ++seen;
    }
  }
  EXPECT_EQ(seen, vm_page_stats().total_pages);
}

TEST(VmPage, ExhaustionReturnsNullAndFreeRestores) {
  bootstrap_with_holes();
  const VmPageStats base = vm_page_stats();
  PageBitmap map;
  std::vector<VmPage*> pages;
  while (VmPage* p = vm_page_grab()) {
    EXPECT_EQ(p->flags & (kVmPageFree | kVmPageReserved), 0);
    ASSERT_TRUE(map.claim(vm_page_to_phys(p), 1)) << "page handed out twice";
    pages.push_back(p);
  }
  EXPECT_TRUE(arch_irq_enabled());  // the guard restored the interrupt state
  EXPECT_EQ(pages.size(), base.free_pages);
  VmPageStats empty = vm_page_stats();
  EXPECT_EQ(empty.free_pages, 0u);
  EXPECT_EQ(empty.allocated_pages, base.free_pages);
  EXPECT_EQ(empty.alloc_failures, 1u);
  EXPECT_EQ(vm_page_alloc(0), nullptr);
  EXPECT_EQ(vm_page_alloc(3), nullptr);
  EXPECT_EQ(vm_page_stats().alloc_failures, 3u);

  // Free in a scrambled order: coalescing must rebuild exactly the initial blocks.
  std::mt19937 rng(42);
  std::shuffle(pages.begin(), pages.end(), rng);
  for (size_t i = 0; i < pages.size(); ++i) {
    vm_page_release(pages[i]);
    if (i == pages.size() / 2) {
      EXPECT_EQ(vm_page_stats().free_pages, i + 1);
    }
  }
  VmPageStats after = vm_page_stats();
  EXPECT_EQ(after.free_pages, base.free_pages);
  EXPECT_EQ(after.allocated_pages, 0u);
  EXPECT_TRUE(same_free_blocks(after, base));
}

TEST(VmPage, OrderTooLargeFails) {
  bootstrap_simple();
  EXPECT_EQ(vm_page_alloc(kVmPageMaxOrder + 1), nullptr);
  EXPECT_EQ(vm_page_stats().alloc_failures, 1u);
}

TEST(VmPage, SimpleLayoutBlocks) {
  bootstrap_simple();
  VmPageStats s = vm_page_stats();
  // 8192 pages; the array takes the first ones; the rest splits into aligned blocks.
  EXPECT_EQ(s.total_pages, 8192u);
  EXPECT_EQ(s.segments, 1u);
  size_t reserved = pages_for_array(8192);
  EXPECT_EQ(s.reserved_pages, reserved);
  EXPECT_EQ(s.free_pages, 8192 - reserved);
  EXPECT_EQ(free_pages_by_blocks(s), s.free_pages);
  // 4 MiB is aligned to every order: the top-order blocks are those above page 1024.
  EXPECT_EQ(s.free_blocks[kVmPageMaxOrder], 7u);
}

TEST(VmPage, SplitAndCoalesceBuddies) {
  bootstrap_simple();
  const VmPageStats base = vm_page_stats();
  ASSERT_EQ(base.free_blocks[0], 0u);  // the layout has no single free page to start with

  VmPage* a = vm_page_grab();
  ASSERT_NE(a, nullptr);
  VmPage* b = vm_page_grab();
  ASSERT_NE(b, nullptr);
  // The second page is the first one's buddy, the upper half of the split pair.
  EXPECT_EQ(vm_page_to_phys(b), vm_page_to_phys(a) ^ kPageSize);
  EXPECT_EQ(b, a + 1);
  EXPECT_EQ(vm_page_stats().free_blocks[0], 0u);

  vm_page_release(a);  // its buddy is in use: no merge
  EXPECT_EQ(vm_page_stats().free_blocks[0], 1u);
  vm_page_release(b);  // merges up through every level the split went down
  VmPageStats after = vm_page_stats();
  EXPECT_EQ(after.free_pages, base.free_pages);
  EXPECT_TRUE(same_free_blocks(after, base));
}

TEST(VmPage, BlocksAreContiguousAndAligned) {
  bootstrap_simple();
  const VmPageStats base = vm_page_stats();
  PageBitmap map;
  std::vector<std::pair<VmPage*, unsigned>> blocks;
  for (unsigned order = 0; order <= kVmPageMaxOrder; ++order) {
    VmPage* head = vm_page_alloc(order);
    ASSERT_NE(head, nullptr) << "order " << order;
    blocks.push_back({head, order});
    const size_t n = size_t{1} << order;
    const paddr_t pa = vm_page_to_phys(head);
    EXPECT_EQ(pa % (kPageSize << order), 0u) << "order " << order;
    ASSERT_TRUE(map.claim(pa, n));
    char* va = static_cast<char*>(vm_page_to_virt(head));
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(vm_page_to_phys(head + i), pa + i * kPageSize);
      EXPECT_EQ(vm_page_from_phys(pa + i * kPageSize), head + i);
      EXPECT_EQ(vm_page_to_virt(head + i), va + i * kPageSize);
    }
    memset(va, static_cast<int>(order), n * kPageSize);  // the whole block is usable memory
  }
  EXPECT_EQ(vm_page_stats().free_pages, base.free_pages - ((size_t{1} << kVmPageOrders) - 1));
  for (auto [head, order] : blocks) vm_page_free(head, order);
  VmPageStats after = vm_page_stats();
  EXPECT_EQ(after.free_pages, base.free_pages);
  EXPECT_TRUE(same_free_blocks(after, base));
}

TEST(VmPage, LargeOrdersExhaustBeforeSmallOnes) {
  bootstrap_simple();
  const VmPageStats base = vm_page_stats();
  std::vector<VmPage*> big;
  while (VmPage* p = vm_page_alloc(kVmPageMaxOrder)) big.push_back(p);
  EXPECT_EQ(big.size(), 7u);
  // Smaller blocks remain below the first 4 MiB.
  VmPage* small = vm_page_alloc(5);
  ASSERT_NE(small, nullptr);
  vm_page_free(small, 5);
  for (VmPage* p : big) vm_page_free(p, kVmPageMaxOrder);
  EXPECT_TRUE(same_free_blocks(vm_page_stats(), base));
}

TEST(VmPage, RandomOrdersNeverOverlap) {
  bootstrap_with_holes();
  const VmPageStats base = vm_page_stats();
  PageBitmap map;
  std::vector<std::pair<VmPage*, unsigned>> live;
  std::mt19937 rng(7);
  size_t live_pages = 0;
  for (int step = 0; step < 20000; ++step) {
    bool do_alloc = live.empty() || rng() % 3 != 0;
    if (do_alloc) {
      unsigned order = rng() % 100 < 80 ? rng() % 3 : rng() % kVmPageOrders;
      VmPage* p = vm_page_alloc(order);
      if (!p) continue;
      ASSERT_TRUE(map.claim(vm_page_to_phys(p), size_t{1} << order)) << "overlap";
      live.push_back({p, order});
      live_pages += size_t{1} << order;
    } else {
      size_t i = rng() % live.size();
      auto [p, order] = live[i];
      live[i] = live.back();
      live.pop_back();
      map.release(vm_page_to_phys(p), size_t{1} << order);
      vm_page_free(p, order);
      live_pages -= size_t{1} << order;
    }
    if (step % 1000 == 0) {
      VmPageStats s = vm_page_stats();
      ASSERT_EQ(s.allocated_pages, live_pages);
      ASSERT_EQ(free_pages_by_blocks(s), s.free_pages);
    }
  }
  for (auto [p, order] : live) vm_page_free(p, order);
  VmPageStats after = vm_page_stats();
  EXPECT_EQ(after.free_pages, base.free_pages);
  EXPECT_TRUE(same_free_blocks(after, base));
}

TEST(VmPage, ConcurrentGrabAndRelease) {
  bootstrap_with_holes();
  const VmPageStats base = vm_page_stats();
  std::vector<std::thread> threads;
  for (unsigned cpu = 0; cpu < 4; ++cpu) {
    threads.emplace_back([cpu] {
      host_set_cpu_id(cpu);
      std::vector<VmPage*> mine;
      for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 40; ++i) {
          if (VmPage* p = vm_page_alloc(i % 3)) {
            // Each thread writes its pages; ASan and the check catch any shared page.
            *static_cast<unsigned*>(vm_page_to_virt(p)) = cpu;
            mine.push_back(p);
          }
        }
        for (size_t i = 0; i < mine.size(); ++i) {
          EXPECT_EQ(*static_cast<unsigned*>(vm_page_to_virt(mine[i])), cpu);
          vm_page_free(mine[i], mine[i]->order);
        }
        mine.clear();
      }
    });
  }
  for (auto& t : threads) t.join();
  VmPageStats after = vm_page_stats();
  EXPECT_EQ(after.free_pages, base.free_pages);
  EXPECT_TRUE(same_free_blocks(after, base));
}

TEST(VmPageDeathTest, DoubleFreeIsCaught) {
  bootstrap_simple();
  VmPage* p = vm_page_grab();
  ASSERT_NE(p, nullptr);
  vm_page_grab();  // keep its buddy busy so p stays a free block head after the release
  vm_page_release(p);
  EXPECT_DEATH(vm_page_release(p), "assertion failed");
}

TEST(VmPageDeathTest, WrongOrderIsCaught) {
  bootstrap_simple();
  VmPage* p = vm_page_alloc(2);
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(vm_page_free(p, 1), "assertion failed");
}

TEST(VmPageDeathTest, FreeingTheArrayIsCaught) {
  bootstrap_simple();
  EXPECT_DEATH(vm_page_release(vm_page_from_phys(kSimple.base)), "assertion failed");
}

}  // namespace
