// The physical page allocator: VmPage array set-up and a binary buddy allocator.
#include "vm/vm_page.h"

#include "kern/assert.h"
#include "kern/lock.h"
#include "lib/new.h"

namespace {

// A managed range of physical memory and its slice of the VmPage array.
struct VmSegment {
  paddr_t base;
  paddr_t end;
  VmPage* pages;  // pages[i] describes base + i * kPageSize
};

using FreeList = IntrusiveList<VmPage, &VmPage::link>;

// Everything below is guarded by g_lock, except that the segments are written only by
// vm_page_bootstrap and read without the lock afterwards.
constinit SpinLock g_lock;
constinit VmSegment g_segments[kVmMaxSegments] = {};
constinit size_t g_nsegments = 0;
constinit FreeList g_free[kVmPageOrders];
constinit size_t g_total_pages = 0;
constinit size_t g_free_pages = 0;
constinit size_t g_reserved_pages = 0;
constinit size_t g_alloc_failures = 0;

size_t segment_pages(const VmSegment& s) { return (s.end - s.base) / kPageSize; }

const VmSegment* segment_of(paddr_t pa) {
  for (size_t i = 0; i < g_nsegments; ++i) {
    if (pa >= g_segments[i].base && pa < g_segments[i].end) return &g_segments[i];
  }
  return nullptr;
}

// Trims, sorts and merges the caller's ranges into g_segments.
void build_segments(const PhysRange* ranges, size_t n) {
  g_nsegments = 0;
  for (size_t i = 0; i < n; ++i) {
    paddr_t base = round_page(ranges[i].base);
    paddr_t end = trunc_page(ranges[i].end);
    if (ranges[i].end < ranges[i].base || end <= base) continue;
    if (g_nsegments == kVmMaxSegments) break;
    // Insertion sort by base: there are only a few ranges.
    size_t j = g_nsegments++;
    while (j > 0 && g_segments[j - 1].base > base) {
      g_segments[j] = g_segments[j - 1];
      --j;
    }
    g_segments[j] = VmSegment{base, end, nullptr};
  }
  // Merge ranges that touch or overlap, so blocks can span what is really one range.
  size_t out = 0;
  for (size_t i = 0; i < g_nsegments; ++i) {
    if (out > 0 && g_segments[i].base <= g_segments[out - 1].end) {
      if (g_segments[i].end > g_segments[out - 1].end) g_segments[out - 1].end = g_segments[i].end;
    } else {
      g_segments[out++] = g_segments[i];
    }
  }
  g_nsegments = out;
}

// Mark `p` as the head of a free block of `order` and queue it.
void push_free(VmPage* p, unsigned order) {
  p->flags = kVmPageFree;
  p->order = static_cast<uint8_t>(order);
  g_free[order].push_back(p);
}

// Puts the pages [first, first + count) of segment `s` on the free lists as the largest
// naturally aligned blocks that fit.
void free_run(const VmSegment& s, size_t first, size_t count) {
  size_t i = first;
  size_t stop = first + count;
  while (i < stop) {
    paddr_t pa = s.base + i * kPageSize;
    unsigned order = kVmPageMaxOrder;
    while (order > 0 &&
           (((pa / kPageSize) & ((size_t{1} << order) - 1)) != 0 || i + (size_t{1} << order) > stop)) {
      --order;
    }
    push_free(&s.pages[i], order);
    i += size_t{1} << order;
    g_free_pages += size_t{1} << order;
  }
}

// Resets an allocated or reserved page to the state of an unowned page.
void clear_page(VmPage* p) {
  p->link = QueueLink{};
  p->object = nullptr;
  p->offset = 0;
  p->wire_count = 0;
  p->flags = 0;
  p->order = 0;
}

}  // namespace

void vm_page_bootstrap(const PhysRange* ranges, size_t n) {
  IrqSpinGuard guard(g_lock);
  for (auto& list : g_free) list.reset();
  g_total_pages = g_free_pages = g_reserved_pages = g_alloc_failures = 0;
  build_segments(ranges, n);

  size_t total = 0;
  size_t largest = 0;
  for (size_t i = 0; i < g_nsegments; ++i) {
    total += segment_pages(g_segments[i]);
    if (segment_pages(g_segments[i]) > segment_pages(g_segments[largest])) largest = i;
  }
  if (total == 0) {
    g_nsegments = 0;
    return;
  }

  // The array lives at the start of the largest range; its own pages are reserved.
  size_t array_pages = (total * sizeof(VmPage) + kPageSize - 1) / kPageSize;
  VmSegment& host = g_segments[largest];
  if (array_pages >= segment_pages(host)) {
    panic("vm_page_bootstrap: no range can hold %zu pages of VmPage array", array_pages);
  }
  // The direct map is contiguous across a range, so one base pointer reaches the array.
  VmPage* array = static_cast<VmPage*>(arch_phys_to_virt(host.base));

  size_t next = 0;
  for (size_t i = 0; i < g_nsegments; ++i) {
    VmSegment& s = g_segments[i];
    s.pages = array + next;
    size_t count = segment_pages(s);
    for (size_t k = 0; k < count; ++k) {
      VmPage* p = new (&s.pages[k]) VmPage();
      p->phys = s.base + k * kPageSize;
    }
    next += count;
  }
  for (size_t k = 0; k < array_pages; ++k) host.pages[k].flags = kVmPageReserved;

  g_total_pages = total;
  g_reserved_pages = array_pages;
  for (size_t i = 0; i < g_nsegments; ++i) {
    const VmSegment& s = g_segments[i];
    size_t skip = (&s == &host) ? array_pages : 0;
    free_run(s, skip, segment_pages(s) - skip);
  }
}

VmPage* vm_page_alloc(unsigned order) {
  IrqSpinGuard guard(g_lock);
  if (order > kVmPageMaxOrder) {
    ++g_alloc_failures;
    return nullptr;
  }
  unsigned k = order;
  while (k <= kVmPageMaxOrder && g_free[k].empty()) ++k;
  if (k > kVmPageMaxOrder) {
    ++g_alloc_failures;
    return nullptr;
  }
  VmPage* p = g_free[k].pop_front();
  // Split: keep the lower half, free the upper half, until the block has the right size.
  // The halves are in the same segment, so the array indices are contiguous.
  while (k > order) {
    --k;
    push_free(p + (size_t{1} << k), k);
  }
  p->flags = 0;
  p->order = static_cast<uint8_t>(order);
  g_free_pages -= size_t{1} << order;
  return p;
}

void vm_page_free(VmPage* page, unsigned order) {
  kassert(page != nullptr);
  kassert(order <= kVmPageMaxOrder);
  const VmSegment* s = segment_of(page->phys);
  kassert(s != nullptr && page == &s->pages[(page->phys - s->base) / kPageSize]);
  kassert((page->phys & ((kPageSize << order) - 1)) == 0);

  IrqSpinGuard guard(g_lock);
  kassert((page->flags & (kVmPageFree | kVmPageReserved)) == 0);
  kassert(page->order == order);
  size_t npages = size_t{1} << order;
  // Tail pages may carry an owner's marks (a multi-page zone chunk); clear the whole block.
  for (size_t i = 0; i < npages; ++i) clear_page(page + i);
  g_free_pages += npages;

  paddr_t pa = page->phys;
  while (order < kVmPageMaxOrder) {
    paddr_t buddy_pa = pa ^ (kPageSize << order);
    if (buddy_pa < s->base || buddy_pa + (kPageSize << order) > s->end) break;
    VmPage* buddy = &s->pages[(buddy_pa - s->base) / kPageSize];
    if (!(buddy->flags & kVmPageFree) || buddy->order != order) break;
    g_free[order].remove(buddy);
    buddy->flags = 0;
    buddy->order = 0;
    if (buddy_pa < pa) {
      page->order = 0;
      page = buddy;
      pa = buddy_pa;
    }
    ++order;
  }
  push_free(page, order);
}

VmPage* vm_page_grab() { return vm_page_alloc(0); }

void vm_page_release(VmPage* page) { vm_page_free(page, 0); }

paddr_t vm_page_to_phys(const VmPage* page) { return page->phys; }

VmPage* vm_page_from_phys(paddr_t pa) {
  const VmSegment* s = segment_of(pa);
  return s ? &s->pages[(pa - s->base) / kPageSize] : nullptr;
}

void* vm_page_to_virt(const VmPage* page) { return arch_phys_to_virt(page->phys); }

VmPageStats vm_page_stats() {
  IrqSpinGuard guard(g_lock);
  VmPageStats st = {};
  st.total_pages = g_total_pages;
  st.free_pages = g_free_pages;
  st.reserved_pages = g_reserved_pages;
  st.allocated_pages = g_total_pages - g_free_pages - g_reserved_pages;
  st.alloc_failures = g_alloc_failures;
  st.segments = g_nsegments;
  for (unsigned k = 0; k < kVmPageOrders; ++k) st.free_blocks[k] = g_free[k].size();
  return st;
}

size_t vm_page_free_count() {
  // A racy read is enough: callers use it to decide whether to wake or wait for the pageout
  // daemon, and check again after.
  return __atomic_load_n(&g_free_pages, __ATOMIC_RELAXED);
}
