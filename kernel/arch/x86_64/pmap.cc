// x86-64 pmap: 4-level page tables. The kernel half (PML4 entries 256-511: the direct map of
// physical memory and the kernel image) is built once at boot and copied into every user PML4;
// those entries never change afterwards, so sharing by copy is safe. TLB consistency between
// CPUs: each pmap records the CPUs it is loaded on, and changes that remove or lower rights
// are shot down on those CPUs before the call returns (seed 003, "TLB consistency").
// Managed pages also have a reverse map (pv entries, below) for the physical-page operations
// that external pagers and pageout need.
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
#include "kern/hot.h"

namespace {

constexpr uint64_t kPtePresent = 1ull << 0;
constexpr uint64_t kPteWrite = 1ull << 1;
constexpr uint64_t kPteUser = 1ull << 2;
constexpr uint64_t kPteAccessed = 1ull << 5;
constexpr uint64_t kPteDirty = 1ull << 6;
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

// For walks over a range: the level-0 PTE for `va` if its page table exists; otherwise
// nullptr, and *next is the first address past the missing table (2 MiB, 1 GiB or 512 GiB
// on), so that a sparse range costs a step per table, not a step per page.
uint64_t* walk_range(Pmap* pmap, vaddr_t va, vaddr_t* next) {
  uint64_t* table = static_cast<uint64_t*>(arch_phys_to_virt(pmap->pml4));
  for (unsigned level = 3; level > 0; --level) {
    uint64_t e = table[index_of(va, level)];
    if (!(e & kPtePresent)) {
      uint64_t span = 1ull << (12 + 9 * level);
      *next = (va | (span - 1)) + 1;
      return nullptr;
    }
    table = table_at(e);
  }
  return &table[index_of(va, 0)];
}

// Calls fn(pte, va) for each present PTE in [start, end) (end <= kUserEnd). Each page table
// is found once, by one walk per 2 MiB, and its entries are then taken in turn: walking the
// four levels for every page made a 16 MiB vm_deallocate 3x GNU Mach's.
template <typename F>
void for_each_present_pte(Pmap* pmap, vaddr_t start, vaddr_t end, F&& fn) {
  constexpr vaddr_t kTableSpan = kPageSize * 512;
  vaddr_t va = start;
  while (va < end) {
    vaddr_t next;
    uint64_t* pte = walk_range(pmap, va, &next);
    if (!pte) {
      va = next;
      continue;
    }
    vaddr_t table_end = (va | (kTableSpan - 1)) + 1;
    vaddr_t stop = table_end < end ? table_end : end;
    for (; va < stop; va += kPageSize, ++pte)
      if (__atomic_load_n(pte, __ATOMIC_RELAXED) & kPtePresent) fn(pte, va);
  }
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

// --- Reverse map ---------------------------------------------------------------------------
//
// Each mapping of a managed page has a PvEntry on the page's list. The list's head lives in
// the page's VmPage::pmap_pv word, with a lock bit and the page's attributes (the dirty and
// accessed bits of mappings since removed) in its low bits: one word rather than a pointer, a
// lock and a byte, because a VmPage exists for every frame.
//
// Lock order: a pmap's lock, then a page's pv lock (never two pv locks at once), then the
// shootdown lock and the zones. pmap_enter and pmap_remove find the page from the PTE under
// the pmap lock, so that order is theirs. pmap_page_protect(none) goes the other way, from the
// page to each pmap: it holds the pv lock and only *tries* the pmap's lock. On failure it lets
// go of the page, backs off and starts again, so that the pmap's holder, which may be spinning
// for this very pv lock, gets through. GNU Mach's alternative, a system-wide reader/writer
// lock that every physical-page operation takes for writing, would stop every fault on every
// CPU during each of the pageout daemon's calls.
//
// Who changes a PTE that maps a managed page, and how:
// - installing or clearing it: with the pmap lock and the page's pv lock both held. So the
//   holder of a pv lock sees each mapping either on the list with its PTE intact, or gone with
//   its dirty and accessed bits already folded into the page's attributes;
// - lowering its rights, or clearing D or A: an atomic and/or, under the pmap lock or the pv
//   lock. Atomic because the MMU sets D and A with locked cycles of its own at any time: a
//   plain read-modify-write would lose a bit set in between. A CPU whose TLB holds D=1 writes
//   without touching the PTE again, which is why clearing D needs a shootdown.
// Page tables are freed only by pmap_destroy, after every mapping of the pmap has left the
// lists, so a pv lock holder may walk to the PTE of any entry on its list without the pmap
// lock, and the entry's pmap stays alive while the entry is on the list.

struct PvEntry {
  PvEntry* next;
  Pmap* pmap;
  vaddr_t va;
};
TypedZone<PvEntry> pv_zone("pmap_pv", 0);

constexpr uintptr_t kPvLocked = 1;
constexpr uintptr_t kPvModified = 2;
constexpr uintptr_t kPvReferenced = 4;
constexpr uintptr_t kPvBits = 7;
static_assert(alignof(PvEntry) > kPvBits, "the flags live in the low bits of an entry's address");

// Holds a page's pv lock, a bit spin lock in VmPage::pmap_pv (interrupts must be off), and is
// the only way to the list and the attributes. Only the holder writes the word: it works on a
// copy and stores it back, unlocked, when it lets go.
class PvGuard {
 public:
  explicit PvGuard(VmPage* page) : page_(page) {
    for (;;) {
      uintptr_t w = __atomic_load_n(&page->pmap_pv, __ATOMIC_RELAXED);
      if (!(w & kPvLocked) && __atomic_compare_exchange_n(&page->pmap_pv, &w, w | kPvLocked, false,
                                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        word_ = w;
        return;
      }
      arch_cpu_relax();  // the holder may be waiting for a shootdown answer from this CPU
    }
  }
  ~PvGuard() { __atomic_store_n(&page_->pmap_pv, word_, __ATOMIC_RELEASE); }
  PvGuard(const PvGuard&) = delete;
  PvGuard& operator=(const PvGuard&) = delete;

  PvEntry* head() const { return reinterpret_cast<PvEntry*>(word_ & ~kPvBits); }
  void push(PvEntry* e) {
    e->next = head();
    set_head(e);
  }
  // Takes the entry of (pmap, va) off the list; it must be there.
  PvEntry* unlink(Pmap* pmap, vaddr_t va) {
    PvEntry* prev = nullptr;
    for (PvEntry* e = head(); e; prev = e, e = e->next) {
      if (e->pmap != pmap || e->va != va) continue;
      if (prev) {
        prev->next = e->next;
      } else {
        set_head(e->next);
      }
      return e;
    }
    panic("pmap: no pv entry for %lx in pmap %p", va, static_cast<void*>(pmap));
  }
  // Records the dirty and accessed bits of a PTE the page is losing.
  void fold(uint64_t pte) {
    if (pte & kPteDirty) word_ |= kPvModified;
    if (pte & kPteAccessed) word_ |= kPvReferenced;
  }
  bool has(uintptr_t attr) const { return word_ & attr; }
  void clear(uintptr_t attr) { word_ &= ~attr; }

 private:
  void set_head(PvEntry* e) { word_ = reinterpret_cast<uintptr_t>(e) | (word_ & kPvBits); }

  VmPage* page_;
  uintptr_t word_;  // the page's word as it will be stored back, without kPvLocked
};

// Interrupts off for a scope (spinlocks are held only so).
class IrqOff {
 public:
  IrqOff() : state_(arch_irq_disable()) {}
  ~IrqOff() { arch_irq_restore(state_); }
  IrqOff(const IrqOff&) = delete;
  IrqOff& operator=(const IrqOff&) = delete;

 private:
  IrqState state_;
};

// A spin lock taken only if it is free (interrupts must be off).
class SpinTryGuard {
 public:
  explicit SpinTryGuard(SpinLock& l) : lock_(l), owned_(l.try_lock()) {}
  ~SpinTryGuard() {
    if (owned_) lock_.unlock();
  }
  SpinTryGuard(const SpinTryGuard&) = delete;
  SpinTryGuard& operator=(const SpinTryGuard&) = delete;
  bool owned() const { return owned_; }

 private:
  SpinLock& lock_;
  bool owned_;
};

// The PTE of a mapping on a pv list (the caller holds that list's lock).
uint64_t* pte_of(const PvEntry* e) {
  uint64_t* pte = walk(e->pmap, e->va, false);
  kassert(pte);
  return pte;
}

// Clears a present PTE (the pmap's lock held), folding its D and A bits into its page's
// attributes; returns the mapping's pv entry, off its list (nullptr for an unmanaged page).
// The caller shoots the translation down.
PvEntry* clear_pte_locked(Pmap* pmap, uint64_t* pte, vaddr_t va) {
  VmPage* page = vm_page_from_phys(*pte & kPteAddr);
  if (!page) {
    __atomic_store_n(pte, 0, __ATOMIC_SEQ_CST);
    return nullptr;
  }
  PvGuard pv(page);
  pv.fold(__atomic_exchange_n(pte, 0, __ATOMIC_SEQ_CST));
  return pv.unlink(pmap, va);
}

// Lowers a present PTE to `prot` (not kProtNone); true if it changed, and a shootdown is due.
bool lower_pte(uint64_t* pte, unsigned prot) {
  uint64_t clear = (prot & kProtWrite) ? 0 : kPteWrite;
  uint64_t set = (prot & kProtExecute) ? 0 : kPteNx;
  uint64_t e = __atomic_load_n(pte, __ATOMIC_RELAXED);
  bool changed = false;
  if (e & clear) {
    __atomic_fetch_and(pte, ~clear, __ATOMIC_SEQ_CST);
    changed = true;
  }
  if (~e & set) {
    __atomic_fetch_or(pte, set, __ATOMIC_SEQ_CST);
    changed = true;
  }
  return changed;
}

// Entries are freed once every lock is released, to keep the zone out of the hold times.
void pv_free_list(PvEntry* list) {
  while (list) {
    PvEntry* next = list->next;
    pv_zone.free(list);
    list = next;
  }
}

enum class PvStep { kDone, kRemoved, kBusy };

// Removes the first mapping on the page's list; kBusy when its pmap's lock is taken (the lock
// order above: the caller must let go of the page before it tries again).
PvStep remove_first_mapping(VmPage* page, PvEntry** dead) {
  PvGuard pv(page);
  PvEntry* e = pv.head();
  if (!e) return PvStep::kDone;
  Pmap* pmap = e->pmap;
  SpinTryGuard g(pmap->lock);
  if (!g.owned()) return PvStep::kBusy;
  pv.fold(__atomic_exchange_n(pte_of(e), 0, __ATOMIC_SEQ_CST));
  pv.unlink(pmap, e->va);
  --pmap->mapped_pages;
  shootdown(pmap, e->va, e->va + kPageSize, false);
  e->next = *dead;
  *dead = e;
  return PvStep::kRemoved;
}

// pmap_is_modified / pmap_is_referenced: the page's attribute or the bit in any mapping.
bool page_test(paddr_t pa, uintptr_t attr, uint64_t bit) {
  VmPage* page = vm_page_from_phys(pa);
  if (!page) return false;
  IrqOff irq;
  PvGuard pv(page);
  if (pv.has(attr)) return true;
  for (PvEntry* e = pv.head(); e; e = e->next)
    if (__atomic_load_n(pte_of(e), __ATOMIC_RELAXED) & bit) return true;
  return false;
}

// pmap_clear_modify / pmap_clear_reference. A CPU that still caches a translation with the
// bit set would not set it again on its next access (for A: the page would look idle to the
// pageout daemon while in use), so each mapping that had it is shot down.
void page_clear(paddr_t pa, uintptr_t attr, uint64_t bit) {
  VmPage* page = vm_page_from_phys(pa);
  if (!page) return;
  IrqOff irq;
  PvGuard pv(page);
  pv.clear(attr);
  for (PvEntry* e = pv.head(); e; e = e->next)
    if (__atomic_fetch_and(pte_of(e), ~bit, __ATOMIC_SEQ_CST) & bit)
      shootdown(e->pmap, e->va, e->va + kPageSize, false);
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

// Clears every mapping the pmap still has (its lock held); returns their pv entries.
PvEntry* clear_all_locked(Pmap* pmap) {
  PvEntry* dead = nullptr;
  auto* pml4 = static_cast<uint64_t*>(arch_phys_to_virt(pmap->pml4));
  for (uint64_t i4 = 0; i4 < 256; ++i4) {
    if (!(pml4[i4] & kPtePresent)) continue;
    uint64_t* pdpt = table_at(pml4[i4]);
    for (uint64_t i3 = 0; i3 < 512; ++i3) {
      if (!(pdpt[i3] & kPtePresent)) continue;
      uint64_t* pd = table_at(pdpt[i3]);
      for (uint64_t i2 = 0; i2 < 512; ++i2) {
        if (!(pd[i2] & kPtePresent)) continue;
        uint64_t* pt = table_at(pd[i2]);
        for (uint64_t i1 = 0; i1 < 512; ++i1) {
          if (!(pt[i1] & kPtePresent)) continue;
          vaddr_t va = (i4 << 39) | (i3 << 30) | (i2 << 21) | (i1 << 12);
          if (PvEntry* e = clear_pte_locked(pmap, &pt[i1], va)) {
            e->next = dead;
            dead = e;
          }
          --pmap->mapped_pages;
        }
      }
    }
  }
  return dead;
}
}  // namespace

void pmap_destroy(Pmap* pmap) {
  kassert(pmap != &kernel_pmap_store);
  shootdown(pmap, 0, kUserEnd, true);
  PvEntry* dead;
  {
    // Mappings left must leave their pages' lists before the tables go: a physical-page
    // operation may be walking to them. Holding the lock makes one that found this pmap on a
    // list back off until its entry is gone.
    IrqSpinGuard g(pmap->lock);
    dead = clear_all_locked(pmap);
  }
  auto* pml4 = static_cast<uint64_t*>(arch_phys_to_virt(pmap->pml4));
  for (unsigned i = 0; i < 256; ++i) {
    if (!(pml4[i] & kPtePresent)) continue;
    free_tables(table_at(pml4[i]), 2);
    vm_page_release(vm_page_from_phys(pml4[i] & kPteAddr));
  }
  vm_page_release(vm_page_from_phys(pmap->pml4));
  pmap_zone.free(pmap);
  pv_free_list(dead);
}

bool pmap_enter(Pmap* pmap, vaddr_t va, paddr_t pa, unsigned prot) {
  kassert(va < kUserEnd && (va & (kPageSize - 1)) == 0);
  VmPage* page = vm_page_from_phys(pa);  // nullptr: unmanaged, no reverse map
  uint64_t e = pa | kPtePresent | kPteUser;
  if (prot & kProtWrite) e |= kPteWrite;
  if (!(prot & kProtExecute)) e |= kPteNx;
  PvEntry* spare = nullptr;  // an entry no longer needed, freed once the lock is released
  {
    IrqSpinGuard g(pmap->lock);
    uint64_t* pte = walk(pmap, va, true);
    if (!pte) return false;
    uint64_t old = __atomic_load_n(pte, __ATOMIC_RELAXED);
    bool present = old & kPtePresent;
    if (present && (old & kPteAddr) == pa) {
      // The same page with other rights: its entry stays.
      if ((old & ~(kPteAccessed | kPteDirty)) == e) return true;
      if (page) {
        PvGuard pv(page);
        pv.fold(__atomic_exchange_n(pte, e, __ATOMIC_SEQ_CST));
      } else {
        __atomic_store_n(pte, e, __ATOMIC_SEQ_CST);
      }
      shootdown(pmap, va, va + kPageSize, false);
      return true;
    }
    // Allocate before anything changes, so that a shortage leaves the old mapping as it was.
    // Replacing a mapping of another managed page moves that mapping's entry instead.
    bool old_managed = present && vm_page_from_phys(old & kPteAddr);
    PvEntry* entry = nullptr;
    if (page && !old_managed) {
      entry = pv_zone.alloc();
      if (!entry) return false;
    }
    if (present) {
      if (PvEntry* moved = clear_pte_locked(pmap, pte, va)) (page ? entry : spare) = moved;
    }
    if (page) {
      entry->pmap = pmap;
      entry->va = va;
      PvGuard pv(page);
      __atomic_store_n(pte, e, __ATOMIC_SEQ_CST);
      pv.push(entry);
    } else {
      __atomic_store_n(pte, e, __ATOMIC_SEQ_CST);
    }
    if (present) {
      shootdown(pmap, va, va + kPageSize, false);
    } else {
      ++pmap->mapped_pages;
    }
  }
  pv_zone.free(spare);
  return true;
}

void pmap_protect(Pmap* pmap, vaddr_t start, vaddr_t end, unsigned prot) {
  if (prot == kProtNone) return pmap_remove(pmap, start, end);
  IrqSpinGuard g(pmap->lock);
  bool changed = false;
  for_each_present_pte(pmap, start, end, [&](uint64_t* pte, vaddr_t) {
    if (lower_pte(pte, prot)) changed = true;
  });
  if (changed) shootdown(pmap, start, end, false);
}

void pmap_remove(Pmap* pmap, vaddr_t start, vaddr_t end) {
  PvEntry* dead = nullptr;
  {
    IrqSpinGuard g(pmap->lock);
    bool changed = false;
    for_each_present_pte(pmap, start, end, [&](uint64_t* pte, vaddr_t va) {
      if (PvEntry* e = clear_pte_locked(pmap, pte, va)) {
        e->next = dead;
        dead = e;
      }
      --pmap->mapped_pages;
      changed = true;
    });
    if (changed) shootdown(pmap, start, end, false);
  }
  pv_free_list(dead);
}

void pmap_page_protect(paddr_t pa, unsigned prot) {
  VmPage* page = vm_page_from_phys(pa);
  if (!page) return;
  PvEntry* dead = nullptr;
  {
    IrqOff irq;
    // A page the MMU cannot read through a mapping is a page without mappings.
    if (!(prot & kProtRead)) {
      unsigned backoff = 1;
      for (;;) {
        PvStep step = remove_first_mapping(page, &dead);
        if (step == PvStep::kDone) break;
        if (step == PvStep::kRemoved) {
          backoff = 1;
          continue;
        }
        for (unsigned i = 0; i < backoff; ++i) arch_cpu_relax();
        if (backoff < 1024) backoff *= 2;
      }
    } else {
      // Lowering rights is an atomic and/or on each PTE: the pv lock is enough (see above).
      PvGuard pv(page);
      for (PvEntry* e = pv.head(); e; e = e->next)
        if (lower_pte(pte_of(e), prot)) shootdown(e->pmap, e->va, e->va + kPageSize, false);
    }
  }
  pv_free_list(dead);
}

bool pmap_is_modified(paddr_t pa) { return page_test(pa, kPvModified, kPteDirty); }
void pmap_clear_modify(paddr_t pa) { page_clear(pa, kPvModified, kPteDirty); }
bool pmap_is_referenced(paddr_t pa) { return page_test(pa, kPvReferenced, kPteAccessed); }
void pmap_clear_reference(paddr_t pa) { page_clear(pa, kPvReferenced, kPteAccessed); }

void pmap_page_reset(paddr_t pa) {
  VmPage* page = vm_page_from_phys(pa);
  if (!page) return;
  IrqOff irq;
  PvGuard pv(page);
  kassert(!pv.head());
  pv.clear(kPvModified | kPvReferenced);
}

size_t pmap_pv_entries() { return pv_zone.stats().in_use; }

bool pmap_extract(Pmap* pmap, vaddr_t va, paddr_t* pa) {
  IrqSpinGuard g(pmap->lock);
  uint64_t* pte = walk(pmap, trunc_page(va), false);
  if (!pte || !(*pte & kPtePresent)) return false;
  *pa = (*pte & kPteAddr) | (va & (kPageSize - 1));
  return true;
}

PmapStats pmap_stats(Pmap* pmap) { return PmapStats{pmap->table_pages, pmap->mapped_pages}; }

MICA_HOT void pmap_activate(Pmap* pmap) {
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
