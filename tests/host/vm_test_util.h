// Shared set-up for the VM host tests: a fresh page allocator and resident table per test,
// a checked tear-down (nothing alive, every page back), and a simulated MMU: user_read and
// user_write go through the host pmap and take a fault when the translation is missing or
// lacks the right, as the hardware would.
#pragma once
#include <gtest/gtest.h>
#include <string.h>

#include "arch/host_arch.h"
#include "arch/host_pmap.h"
#include "vm/vm_fault.h"
#include "vm/vm_map.h"
#include "vm/vm_object.h"
#include "vm/vm_page.h"
#include "vm/vm_resident.h"
#include "vm/vm_user.h"

// A small user range for tests: [kTestMin, kTestMax).
inline constexpr vaddr_t kTestMin = 0x10000;
inline constexpr vaddr_t kTestMax = 0x10000000;  // 256 MiB

class VmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PhysRange all = host_phys_all();
    vm_page_bootstrap(&all, 1);
    vm_resident_bootstrap();
    vm_object_bootstrap();
    baseline_free_ = vm_page_stats().free_pages;
  }

  void TearDown() override {
    VmCounters c = vm_counters();
    EXPECT_EQ(c.objects_alive, 0u);
    EXPECT_EQ(c.map_entries_alive, 0u);
    EXPECT_EQ(c.maps_alive, 0u);
    EXPECT_EQ(c.copies_alive, 0u);
    EXPECT_EQ(c.resident_count, 0u);
    EXPECT_EQ(c.wire_count, 0u);
    EXPECT_EQ(host_pmap_alive(), 0u);
    vm_map_zones_destroy();
    vm_object_zone_destroy();
    EXPECT_EQ(vm_page_stats().free_pages, baseline_free_);
  }

  VmMap* new_map(vaddr_t min = kTestMin, vaddr_t max = kTestMax) {
    VmMap* m = vm_map_create(min, max);
    EXPECT_NE(m, nullptr);
    return m;
  }

  // The simulated MMU: the physical page behind `va` for an access of `type`, faulting as
  // needed. Fails the test (returns nullptr) when the fault fails.
  static uint8_t* user_page(VmMap* map, vaddr_t va, vm_prot_t type, kern_return_t* kr_out) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      paddr_t pa;
      unsigned prot;
      if (host_pmap_lookup(map->pmap, trunc_page(va), &pa, &prot) &&
          (prot & static_cast<unsigned>(type)) == static_cast<unsigned>(type)) {
        return static_cast<uint8_t*>(arch_phys_to_virt(pa)) + (va & (kPageSize - 1));
      }
      kern_return_t kr = vm_fault(map, va, type);
      if (kr != KERN_SUCCESS) {
        if (kr_out) *kr_out = kr;
        return nullptr;
      }
    }
    ADD_FAILURE() << "fault did not enter the page at " << std::hex << va;
    return nullptr;
  }

  static kern_return_t try_write(VmMap* map, vaddr_t va, uint8_t v) {
    kern_return_t kr = KERN_SUCCESS;
    uint8_t* p = user_page(map, va, VM_PROT_WRITE, &kr);
    if (!p) return kr;
    *p = v;
    return KERN_SUCCESS;
  }

  static kern_return_t try_read(VmMap* map, vaddr_t va, uint8_t* v) {
    kern_return_t kr = KERN_SUCCESS;
    uint8_t* p = user_page(map, va, VM_PROT_READ, &kr);
    if (!p) return kr;
    *v = *p;
    return KERN_SUCCESS;
  }

  static void user_write(VmMap* map, vaddr_t va, uint8_t v) {
    ASSERT_EQ(try_write(map, va, v), KERN_SUCCESS) << std::hex << va;
  }

  static uint8_t user_read(VmMap* map, vaddr_t va) {
    uint8_t v = 0xee;
    EXPECT_EQ(try_read(map, va, &v), KERN_SUCCESS) << std::hex << va;
    return v;
  }

  // Number of objects in the chain of the entry at `va` (0: no object yet).
  static size_t chain_length(VmMap* map, vaddr_t va) {
    VmObject* o = entry_object(map, va);
    return o ? vm_object_chain_length(o) : 0;
  }

  static VmObject* entry_object(VmMap* map, vaddr_t va) {
    IrqSpinGuard g(map->lock);
    VmMapEntry* e;
    if (!vm_map_lookup_entry_locked(map, va, &e)) return nullptr;
    return e->object;
  }

  static VmMapEntry entry_at(VmMap* map, vaddr_t va) {
    IrqSpinGuard g(map->lock);
    VmMapEntry* e;
    VmMapEntry copy;
    if (vm_map_lookup_entry_locked(map, va, &e)) copy = *e;
    return copy;
  }

  static size_t entry_count(VmMap* map) {
    IrqSpinGuard g(map->lock);
    return map->entries.count;
  }

  // The object that holds the page of `va` (through the entry's chain), or nullptr.
  static VmObject* page_owner(VmMap* map, vaddr_t va) {
    IrqSpinGuard g(map->lock);
    VmMapEntry* e;
    if (!vm_map_lookup_entry_locked(map, va, &e) || !e->object) return nullptr;
    uint64_t off;
    return vm_object_page_owner(e->object, e->offset + (trunc_page(va) - e->start), &off);
  }

  size_t baseline_free_ = 0;
};
