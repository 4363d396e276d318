// x86-64 pmap: 4-level page tables. The kernel half (PML4 entries 256-511: the direct map of
// physical memory and the kernel image) is built once at boot and copied into every user PML4;
// those entries never change afterwards, so sharing by copy is safe. TLB consistency between
// CPUs: each pmap records the CPUs it is loaded on, and changes that remove or lower rights
// are shot down on those CPUs before the call returns (seed 003, "TLB consistency").
#include "arch/x86_64/pmap_x86.h"

#include "arch/x86_64/apic.h"
#include "arch/x86_64/asm.h"
#include "arch/x86_64/cpu_local.h"
#include "arch/x86_64/io.h"
#include "kern/assert.h"
#include "kern/lock.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "lib/string.h"
#include "vm/vm_page.h"

namespace {

constexpr uint64_t kPtePresent = 1ull << 0;
constexpr uint64_t kPteWrite = 1ull << 1;
constexpr uint64_t kPteUser = 1ull << 2;
constexpr uint64_t kPteLarge = 1ull << 7;
constexpr uint64_t kPteGlobal = 1ull << 8;
constexpr uint64_t kPteNx = 1ull << 63;
constexpr uint64_t kPteAddr = 0x000ffffffffff000ull;

alignas(4096) uint64_t kernel_pml4_table[512];
// Early page-table pages for the direct map and the kernel image, before vm_page exists:
// enough for 64 GiB of direct map with 2 MiB pages.
constexpr unsigned kEarlyTables = 72;
alignas(4096) uint64_t early_tables[kEarlyTables][512];
unsigned early_used;

Pmap kernel_pmap_store;
Zone pmap_zone("pmap", sizeof(Pmap), 4096);

uint64_t* early_table() {
  if (early_used == kEarlyTables) panic("pmap_bootstrap: out of early page tables");
  return early_tables[early_used++];
}

// Early tables live in the kernel image: their physical address is their link address minus
// the kernel base.
paddr_t early_phys(const void* p) { return reinterpret_cast<uint64_t>(p) - KERNEL_VMA; }

uint64_t* table_at(uint64_t entry) { return static_cast<uint64_t*>(arch_phys_to_virt(entry & kPteAddr)); }

unsigned index_of(vaddr_t va, unsigned level) { return (va >> (12 + 9 * level)) & 511; }

// Returns the level-0 PTE for `va`, allocating intermediate tables when `create`.
uint64_t* walk(Pmap* pmap, vaddr_t va, bool create) {
  uint64_t* table = static_cast<uint64_t*>(arch_phys_to_virt(pmap->pml4));
  for (unsigned level = 3; level > 0; --level) {
    uint64_t& e = table[index_of(va, level)];
    if (!(e & kPtePresent)) {
      if (!create) return nullptr;
      VmPage* page = vm_page_grab();
      if (!page) return nullptr;
      memset(vm_page_to_virt(page), 0, kPageSize);
      e = vm_page_to_phys(page) | kPtePresent | kPteWrite | kPteUser;
      ++pmap->table_pages;
    }
    table = table_at(e);
  }
  return &table[index_of(va, 0)];
}

// --- TLB shootdown -------------------------------------------------------------------------

struct Shootdown {
  Pmap* pmap;
  vaddr_t start, end;
  bool unload;  // switch away from the pmap (it is being destroyed)
};
SpinLock shootdown_lock;
Shootdown shootdown_req;
volatile uint32_t shootdown_pending;  // bit per CPU still to act

void flush_local(const Shootdown& s) {
  CpuLocal* c = this_cpu();
  uint64_t cr3 = read_cr3();
  if (s.unload) {
    if (cr3 == s.pmap->pml4) write_cr3(kernel_pmap_store.pml4);
    __atomic_fetch_and(&s.pmap->cpus, ~(1u << c->id), __ATOMIC_SEQ_CST);
    return;
  }
  if (s.pmap != &kernel_pmap_store && cr3 != s.pmap->pml4) return;
  if (s.end - s.start > 32 * kPageSize) {
    write_cr3(cr3);
  } else {
    for (vaddr_t va = s.start; va < s.end; va += kPageSize) invlpg(va);
  }
}

void shootdown_poll() {
  uint32_t pending = __atomic_load_n(&shootdown_pending, __ATOMIC_ACQUIRE);
  if (!pending) return;
  unsigned me = arch_cpu_id();
  if (pending & (1u << me)) {
    flush_local(shootdown_req);
    __atomic_fetch_and(&shootdown_pending, ~(1u << me), __ATOMIC_RELEASE);
  }
}

void shootdown(Pmap* pmap, vaddr_t start, vaddr_t end, bool unload) {
  IrqState s = arch_irq_disable();
  // While waiting for the lock, answer the holder's request to us: it waits for our answer.
  while (!shootdown_lock.try_lock()) arch_cpu_relax();  // answers requests to us meanwhile
  Shootdown req{pmap, start, end, unload};
  unsigned me = arch_cpu_id();
  uint32_t targets = __atomic_load_n(&pmap->cpus, __ATOMIC_ACQUIRE) & ~(1u << me);
  if (pmap == &kernel_pmap_store) {
    targets = 0;
    for (unsigned i = 0; i < kMaxCpus; ++i)
      if (cpu_locals[i].online && i != me) targets |= 1u << i;
  }
  if (targets) {
    shootdown_req = req;
    __atomic_store_n(&shootdown_pending, targets, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < kMaxCpus; ++i)
      if (targets & (1u << i)) apic_send_ipi(cpu_locals[i].apic_id, kVectorTlb);
    while (__atomic_load_n(&shootdown_pending, __ATOMIC_ACQUIRE) & targets) asm volatile("pause");
  }
  flush_local(req);
  shootdown_lock.unlock();
  arch_irq_restore(s);
}

}  // namespace

void tlb_shootdown_interrupt() { shootdown_poll(); }

void* arch_phys_to_virt(paddr_t pa) { return reinterpret_cast<void*>(pa + PHYS_MAP_BASE); }

paddr_t arch_virt_to_phys(const void* va) {
  auto v = reinterpret_cast<uint64_t>(va);
  if (v >= KERNEL_VMA) return v - KERNEL_VMA;
  return v - PHYS_MAP_BASE;
}

Pmap* kernel_pmap() { return &kernel_pmap_store; }

void pmap_bootstrap(paddr_t max_phys) {
  // Direct map of all physical memory with 2 MiB pages, global, not executable.
  uint64_t limit = max_phys < (4ull << 30) ? (4ull << 30) : max_phys;  // covers the APIC too
  uint64_t* pdpt = early_table();
  kernel_pml4_table[256] = early_phys(pdpt) | kPtePresent | kPteWrite;
  for (uint64_t gb = 0; gb * (1ull << 30) < limit; ++gb) {
    if (gb == 512) panic("pmap_bootstrap: more than 512 GiB of physical memory");
    uint64_t* pd = early_table();
    pdpt[gb] = early_phys(pd) | kPtePresent | kPteWrite;
    for (uint64_t i = 0; i < 512; ++i)
      pd[i] = ((gb << 30) + (i << 21)) | kPtePresent | kPteWrite | kPteLarge | kPteGlobal | kPteNx;
  }
  // The kernel image: the first 1 GiB of physical memory at KERNEL_VMA.
  uint64_t* kpdpt = early_table();
  uint64_t* kpd = early_table();
  kernel_pml4_table[511] = early_phys(kpdpt) | kPtePresent | kPteWrite;
  kpdpt[510] = early_phys(kpd) | kPtePresent | kPteWrite;
  for (uint64_t i = 0; i < 512; ++i)
    kpd[i] = (i << 21) | kPtePresent | kPteWrite | kPteLarge | kPteGlobal;
  // Kernel-half entries must all exist now: user PML4s copy them once.
  for (unsigned i = 257; i < 511; ++i) kernel_pml4_table[i] = 0;
  // Identity map of the first 1 GiB, executable, for the application processors' start-up
  // code only (the direct map is not executable).
  uint64_t* ipdpt = early_table();
  kernel_pml4_table[0] = early_phys(ipdpt) | kPtePresent | kPteWrite;
  ipdpt[0] = early_phys(kpd) | kPtePresent | kPteWrite;

  kernel_pmap_store.pml4 = early_phys(kernel_pml4_table);
  write_cr3(kernel_pmap_store.pml4);
}

void pmap_drop_identity_map() {
  kernel_pml4_table[0] = 0;
  write_cr3(read_cr3());
  shootdown(&kernel_pmap_store, 0, 1ull << 30, false);
}

Pmap* pmap_create() {
  auto* pmap = static_cast<Pmap*>(pmap_zone.alloc());
  if (!pmap) return nullptr;
  VmPage* page = vm_page_grab();
  if (!page) {
    pmap_zone.free(pmap);
    return nullptr;
  }
  pmap = new (pmap) Pmap;
  pmap->pml4 = vm_page_to_phys(page);
  auto* t = static_cast<uint64_t*>(vm_page_to_virt(page));
  memset(t, 0, 256 * sizeof(uint64_t));
  memcpy(t + 256, kernel_pml4_table + 256, 256 * sizeof(uint64_t));
  return pmap;
}

namespace {
void free_tables(uint64_t* table, unsigned level) {
  for (unsigned i = 0; i < 512; ++i) {
    if (!(table[i] & kPtePresent)) continue;
    if (level > 1) free_tables(table_at(table[i]), level - 1);
    vm_page_release(vm_page_from_phys(table[i] & kPteAddr));
  }
}
}  // namespace

void pmap_destroy(Pmap* pmap) {
  kassert(pmap != &kernel_pmap_store);
  shootdown(pmap, 0, kUserEnd, true);
  auto* pml4 = static_cast<uint64_t*>(arch_phys_to_virt(pmap->pml4));
  for (unsigned i = 0; i < 256; ++i) {
    if (!(pml4[i] & kPtePresent)) continue;
    free_tables(table_at(pml4[i]), 2);
    vm_page_release(vm_page_from_phys(pml4[i] & kPteAddr));
  }
  vm_page_release(vm_page_from_phys(pmap->pml4));
  pmap_zone.free(pmap);
}

bool pmap_enter(Pmap* pmap, vaddr_t va, paddr_t pa, unsigned prot) {
  kassert(va < kUserEnd && (va & (kPageSize - 1)) == 0);
  IrqSpinGuard g(pmap->lock);
  uint64_t* pte = walk(pmap, va, true);
  if (!pte) return false;
  uint64_t old = *pte;
  uint64_t e = pa | kPtePresent | kPteUser;
  if (prot & kProtWrite) e |= kPteWrite;
  if (!(prot & kProtExecute)) e |= kPteNx;
  *pte = e;
  if (!(old & kPtePresent)) {
    ++pmap->mapped_pages;
  } else if (old != e) {
    shootdown(pmap, va, va + kPageSize, false);
  }
  return true;
}

void pmap_protect(Pmap* pmap, vaddr_t start, vaddr_t end, unsigned prot) {
  if (prot == kProtNone) return pmap_remove(pmap, start, end);
  IrqSpinGuard g(pmap->lock);
  bool changed = false;
  for (vaddr_t va = start; va < end; va += kPageSize) {
    uint64_t* pte = walk(pmap, va, false);
    if (!pte || !(*pte & kPtePresent)) continue;
    uint64_t e = *pte;
    if (!(prot & kProtWrite)) e &= ~kPteWrite;
    if (!(prot & kProtExecute)) e |= kPteNx;
    if (e != *pte) *pte = e, changed = true;
  }
  if (changed) shootdown(pmap, start, end, false);
}

void pmap_remove(Pmap* pmap, vaddr_t start, vaddr_t end) {
  IrqSpinGuard g(pmap->lock);
  bool changed = false;
  for (vaddr_t va = start; va < end; va += kPageSize) {
    uint64_t* pte = walk(pmap, va, false);
    if (!pte) {
      va = (va | ((1ull << 21) - 1));  // no page table here: skip to the next 2 MiB
      continue;
    }
    if (*pte & kPtePresent) {
      *pte = 0;
      --pmap->mapped_pages;
      changed = true;
    }
  }
  if (changed) shootdown(pmap, start, end, false);
}

bool pmap_extract(Pmap* pmap, vaddr_t va, paddr_t* pa) {
  IrqSpinGuard g(pmap->lock);
  uint64_t* pte = walk(pmap, trunc_page(va), false);
  if (!pte || !(*pte & kPtePresent)) return false;
  *pa = (*pte & kPteAddr) | (va & (kPageSize - 1));
  return true;
}

PmapStats pmap_stats(Pmap* pmap) { return PmapStats{pmap->table_pages, pmap->mapped_pages}; }

void pmap_activate(Pmap* pmap) {
  unsigned me = arch_cpu_id();
  uint64_t cr3 = read_cr3();
  if (cr3 == pmap->pml4) return;
  // Shootdowns must see us in the new pmap's set before we can cache any of its entries.
  __atomic_fetch_or(&pmap->cpus, 1u << me, __ATOMIC_SEQ_CST);
  write_cr3(pmap->pml4);
  Pmap* old = this_cpu()->loaded_pmap;
  if (old && old != pmap) __atomic_fetch_and(&old->cpus, ~(1u << me), __ATOMIC_SEQ_CST);
  this_cpu()->loaded_pmap = pmap;
}
