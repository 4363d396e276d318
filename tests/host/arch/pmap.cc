// The pmap interface on the host: no hardware, just a software table per pmap, kept under one
// mutex. Like any pmap it is only a cache of the machine-independent maps.
#include <map>
#include <mutex>

#include "arch/host_pmap.h"
#include "kern/assert.h"

struct Pmap {
  struct Pte {
    paddr_t pa;
    unsigned prot;
  };
  std::map<vaddr_t, Pte> ptes;
};

namespace {

std::mutex g_mutex;
size_t g_alive = 0;
unsigned g_fail_enters = 0;

Pmap* kernel_pmap_store() {
  static Pmap* p = new Pmap();
  return p;
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
  delete pmap;
}

bool pmap_enter(Pmap* pmap, vaddr_t va, paddr_t pa, unsigned prot) {
  kassert((va & (kPageSize - 1)) == 0 && va < kUserEnd);
  std::lock_guard<std::mutex> g(g_mutex);
  if (g_fail_enters > 0) {
    --g_fail_enters;
    return false;
  }
  pmap->ptes[va] = Pmap::Pte{pa, prot};
  return true;
}

void pmap_remove(Pmap* pmap, vaddr_t start, vaddr_t end) {
  std::lock_guard<std::mutex> g(g_mutex);
  pmap->ptes.erase(pmap->ptes.lower_bound(start), pmap->ptes.lower_bound(end));
}

void pmap_protect(Pmap* pmap, vaddr_t start, vaddr_t end, unsigned prot) {
  if (prot == kProtNone) return pmap_remove(pmap, start, end);
  std::lock_guard<std::mutex> g(g_mutex);
  // Like the x86-64 pmap: write and execute can be taken away, read stays.
  for (auto it = pmap->ptes.lower_bound(start); it != pmap->ptes.end() && it->first < end; ++it) {
    if (!(prot & kProtWrite)) it->second.prot &= ~kProtWrite;
    if (!(prot & kProtExecute)) it->second.prot &= ~kProtExecute;
  }
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

bool host_pmap_lookup(Pmap* pmap, vaddr_t va, paddr_t* pa, unsigned* prot) {
  std::lock_guard<std::mutex> g(g_mutex);
  auto it = pmap->ptes.find(trunc_page(va));
  if (it == pmap->ptes.end()) return false;
  *pa = it->second.pa;
  *prot = it->second.prot;
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
