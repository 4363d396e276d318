// The pmap interface on the host: no hardware, just a software table per pmap, kept under one
// mutex. Like any pmap it is only a cache of the machine-independent maps.
//
// It models what the VM can observe of the x86-64 pmap's reverse map: each mapping of a
// managed page has a pv entry on the page's list (head and attributes in VmPage::pmap_pv, as
// in the kernel), each translation has accessed and dirty bits that host_pmap_access sets as
// the MMU would, and the bits of removed translations are folded into the page's attributes.
// The one mutex stands for the kernel's pmap and pv locks. Entries come from the C++ heap,
// not a zone: the host tests count physical pages to the page (every test's tear-down checks
// them against a baseline), and a zone would keep pages they do not expect.
#include <map>
#include <mutex>
#include <new>

#include "arch/host_pmap.h"
#include "kern/assert.h"
#include "vm/vm_page.h"

struct Pmap {
  struct Pte {
    paddr_t pa;
    unsigned prot;
    bool referenced;  // the MMU's accessed bit
    bool modified;    // the MMU's dirty bit
  };
  std::map<vaddr_t, Pte> ptes;
};

namespace {

struct PvEntry {
  PvEntry* next;
  Pmap* pmap;
  vaddr_t va;
};

// VmPage::pmap_pv: the list's head with the attributes in its low bits (bit 0 is the
// kernel's lock bit, unused here).
constexpr uintptr_t kPvModified = 2;
constexpr uintptr_t kPvReferenced = 4;
constexpr uintptr_t kPvBits = 7;

std::mutex g_mutex;
size_t g_alive = 0;
unsigned g_fail_enters = 0;
unsigned g_fail_pv_allocs = 0;
size_t g_pv_alive = 0;

Pmap* kernel_pmap_store() {
  static Pmap* p = new Pmap();
  return p;
}

PvEntry* pv_head(const VmPage* page) { return reinterpret_cast<PvEntry*>(page->pmap_pv & ~kPvBits); }

void pv_set_head(VmPage* page, PvEntry* e) {
  page->pmap_pv = reinterpret_cast<uintptr_t>(e) | (page->pmap_pv & kPvBits);
}

PvEntry* pv_alloc_locked() {
  if (g_fail_pv_allocs > 0) {
    --g_fail_pv_allocs;
    return nullptr;
  }
  auto* e = new (std::nothrow) PvEntry{};
  if (e) ++g_pv_alive;
  return e;
}

void pv_free_locked(PvEntry* e) {
  if (!e) return;
  kassert(g_pv_alive > 0);
  --g_pv_alive;
  delete e;
}

PvEntry* pv_unlink_locked(VmPage* page, Pmap* pmap, vaddr_t va) {
  PvEntry* prev = nullptr;
  for (PvEntry* e = pv_head(page); e; prev = e, e = e->next) {
    if (e->pmap != pmap || e->va != va) continue;
    if (prev) {
      prev->next = e->next;
    } else {
      pv_set_head(page, e->next);
    }
    return e;
  }
  panic("host pmap: no pv entry for %#lx", static_cast<unsigned long>(va));
}

void fold(VmPage* page, const Pmap::Pte& pte) {
  if (pte.modified) page->pmap_pv |= kPvModified;
  if (pte.referenced) page->pmap_pv |= kPvReferenced;
}

// Drops one translation, folding its bits into its page and freeing its pv entry.
std::map<vaddr_t, Pmap::Pte>::iterator erase_locked(Pmap* pmap,
                                                    std::map<vaddr_t, Pmap::Pte>::iterator it) {
  if (VmPage* page = vm_page_from_phys(it->second.pa)) {
    fold(page, it->second);
    pv_free_locked(pv_unlink_locked(page, pmap, it->first));
  }
  return pmap->ptes.erase(it);
}

// Like the x86-64 pmap: write and execute can be taken away, read stays.
void lower(Pmap::Pte& pte, unsigned prot) {
  if (!(prot & kProtWrite)) pte.prot &= ~kProtWrite;
  if (!(prot & kProtExecute)) pte.prot &= ~kProtExecute;
}

}  // namespace

Pmap* kernel_pmap() { return kernel_pmap_store(); }

Pmap* pmap_create() {
  std::lock_guard<std::mutex> g(g_mutex);
  ++g_alive;
  return new Pmap();
}

void pmap_destroy(Pmap* pmap) {
  std::lock_guard<std::mutex> g(g_mutex);
  kassert(g_alive > 0);
  --g_alive;
  for (auto it = pmap->ptes.begin(); it != pmap->ptes.end();) it = erase_locked(pmap, it);
  delete pmap;
}

bool pmap_enter(Pmap* pmap, vaddr_t va, paddr_t pa, unsigned prot) {
  kassert((va & (kPageSize - 1)) == 0 && va < kUserEnd);
  std::lock_guard<std::mutex> g(g_mutex);
  if (g_fail_enters > 0) {
    --g_fail_enters;
    return false;
  }
  VmPage* page = vm_page_from_phys(pa);
  auto it = pmap->ptes.find(va);
  if (it != pmap->ptes.end() && it->second.pa == pa) {
    it->second.prot = prot;  // the same page: its entry and its bits stay
    return true;
  }
  VmPage* old_page = it != pmap->ptes.end() ? vm_page_from_phys(it->second.pa) : nullptr;
  // Allocate first: a shortage leaves the old translation as it was.
  PvEntry* entry = nullptr;
  if (page && !old_page) {
    entry = pv_alloc_locked();
    if (!entry) return false;
  }
  if (old_page) {
    fold(old_page, it->second);
    PvEntry* moved = pv_unlink_locked(old_page, pmap, va);
    if (page) {
      entry = moved;
    } else {
      pv_free_locked(moved);
    }
  }
  pmap->ptes[va] = Pmap::Pte{pa, prot, false, false};
  if (page) {
    entry->pmap = pmap;
    entry->va = va;
    entry->next = pv_head(page);
    pv_set_head(page, entry);
  }
  return true;
}

void pmap_remove(Pmap* pmap, vaddr_t start, vaddr_t end) {
  std::lock_guard<std::mutex> g(g_mutex);
  for (auto it = pmap->ptes.lower_bound(start); it != pmap->ptes.end() && it->first < end;)
    it = erase_locked(pmap, it);
}

void pmap_protect(Pmap* pmap, vaddr_t start, vaddr_t end, unsigned prot) {
  if (prot == kProtNone) return pmap_remove(pmap, start, end);
  std::lock_guard<std::mutex> g(g_mutex);
  for (auto it = pmap->ptes.lower_bound(start); it != pmap->ptes.end() && it->first < end; ++it)
    lower(it->second, prot);
}

bool pmap_extract(Pmap* pmap, vaddr_t va, paddr_t* pa) {
  std::lock_guard<std::mutex> g(g_mutex);
  auto it = pmap->ptes.find(trunc_page(va));
  if (it == pmap->ptes.end()) return false;
  *pa = it->second.pa | (va & (kPageSize - 1));
  return true;
}

PmapStats pmap_stats(Pmap* pmap) {
  std::lock_guard<std::mutex> g(g_mutex);
  return PmapStats{0, pmap->ptes.size()};
}

void pmap_activate(Pmap*) {}

void pmap_page_protect(paddr_t pa, unsigned prot) {
  VmPage* page = vm_page_from_phys(pa);
  if (!page) return;
  std::lock_guard<std::mutex> g(g_mutex);
  if (!(prot & kProtRead)) {  // as on x86-64: unreadable means unmapped
    while (PvEntry* e = pv_head(page)) erase_locked(e->pmap, e->pmap->ptes.find(e->va));
    return;
  }
  for (PvEntry* e = pv_head(page); e; e = e->next) lower(e->pmap->ptes.at(e->va), prot);
}

namespace {

bool page_test(paddr_t pa, uintptr_t attr, bool Pmap::Pte::*bit) {
  VmPage* page = vm_page_from_phys(pa);
  if (!page) return false;
  std::lock_guard<std::mutex> g(g_mutex);
  if (page->pmap_pv & attr) return true;
  for (PvEntry* e = pv_head(page); e; e = e->next)
    if (e->pmap->ptes.at(e->va).*bit) return true;
  return false;
}

void page_clear(paddr_t pa, uintptr_t attr, bool Pmap::Pte::*bit) {
  VmPage* page = vm_page_from_phys(pa);
  if (!page) return;
  std::lock_guard<std::mutex> g(g_mutex);
  page->pmap_pv &= ~attr;
  for (PvEntry* e = pv_head(page); e; e = e->next) e->pmap->ptes.at(e->va).*bit = false;
}

}  // namespace

bool pmap_is_modified(paddr_t pa) { return page_test(pa, kPvModified, &Pmap::Pte::modified); }
void pmap_clear_modify(paddr_t pa) { page_clear(pa, kPvModified, &Pmap::Pte::modified); }
bool pmap_is_referenced(paddr_t pa) { return page_test(pa, kPvReferenced, &Pmap::Pte::referenced); }
void pmap_clear_reference(paddr_t pa) { page_clear(pa, kPvReferenced, &Pmap::Pte::referenced); }

void pmap_page_reset(paddr_t pa) {
  VmPage* page = vm_page_from_phys(pa);
  if (!page) return;
  std::lock_guard<std::mutex> g(g_mutex);
  kassert(!pv_head(page));
  page->pmap_pv &= ~(kPvModified | kPvReferenced);
}

size_t pmap_pv_entries() {
  std::lock_guard<std::mutex> g(g_mutex);
  return g_pv_alive;
}

bool host_pmap_lookup(Pmap* pmap, vaddr_t va, paddr_t* pa, unsigned* prot) {
  std::lock_guard<std::mutex> g(g_mutex);
  auto it = pmap->ptes.find(trunc_page(va));
  if (it == pmap->ptes.end()) return false;
  *pa = it->second.pa;
  *prot = it->second.prot;
  return true;
}

bool host_pmap_access(Pmap* pmap, vaddr_t va, unsigned access) {
  std::lock_guard<std::mutex> g(g_mutex);
  auto it = pmap->ptes.find(trunc_page(va));
  if (it == pmap->ptes.end() || (it->second.prot & access) != access) return false;
  it->second.referenced = true;
  if (access & kProtWrite) it->second.modified = true;
  return true;
}

size_t host_pmap_count(Pmap* pmap) {
  std::lock_guard<std::mutex> g(g_mutex);
  return pmap->ptes.size();
}

size_t host_pmap_alive() {
  std::lock_guard<std::mutex> g(g_mutex);
  return g_alive;
}

void host_pmap_fail_next_enters(unsigned n) {
  std::lock_guard<std::mutex> g(g_mutex);
  g_fail_enters = n;
}

void host_pmap_fail_next_pv_allocs(unsigned n) {
  std::lock_guard<std::mutex> g(g_mutex);
  g_fail_pv_allocs = n;
}
