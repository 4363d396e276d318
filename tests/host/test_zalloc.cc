// Zones: allocation and free, counters, the element limit, growth by pages, elements larger
// than a page, shortage, the registry, TypedZone, and the cheap checks on free.
#include <gtest/gtest.h>
#include <string.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "arch/host_arch.h"
#include "kern/zalloc.h"
#include "lib/new.h"
#include "vm/vm_page.h"

namespace {

void bootstrap() {
  static const PhysRange r = host_phys_all();
  vm_page_bootstrap(&r, 1);
}

bool registered(const Zone* z) {
  bool found = false;
  zone_for_each([&](Zone& each) { found |= &each == z; });
  return found;
}

// Zones are plain constant-initialized globals.
constinit Zone g_zone("test.global", 40, 0);

struct Obj {
  int a;
  double b;
  alignas(16) char c[20];
  Obj(int x) : a(x), b(x * 2.0) { memset(c, x, sizeof(c)); }
};
constinit TypedZone<Obj> g_obj_zone("test.obj", 0);

TEST(Zone, AllocFreeAndCounters) {
  bootstrap();
  const size_t pages_before = vm_page_stats().allocated_pages;
  Zone z("test.small", 24, 0);
  ZoneStats s = z.stats();
  EXPECT_STREQ(s.name, "test.small");
  EXPECT_EQ(s.elem_size, 24u);
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.pages, 0u);
  EXPECT_EQ(s.max_elems, 0u);

  void* a = z.alloc();
  void* b = z.alloc();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % Zone::kZoneAlign, 0u);
  s = z.stats();
  EXPECT_EQ(s.in_use, 2u);
  EXPECT_EQ(s.pages, 1u);
  EXPECT_EQ(s.free_elems, kPageSize / 24 - 2);
  EXPECT_EQ(vm_page_stats().allocated_pages, pages_before + 1);

  z.free(a);
  z.free(nullptr);  // ignored
  s = z.stats();
  EXPECT_EQ(s.in_use, 1u);
  EXPECT_EQ(s.free_elems, kPageSize / 24 - 1);
  EXPECT_EQ(z.alloc(), a);  // LIFO reuse keeps caches warm
  z.free(a);
  z.free(b);
  EXPECT_EQ(z.stats().in_use, 0u);

  z.destroy();
  s = z.stats();
  EXPECT_EQ(s.pages, 0u);
  EXPECT_EQ(s.free_elems, 0u);
  EXPECT_EQ(vm_page_stats().allocated_pages, pages_before);
}

TEST(Zone, ElementSizeRounding) {
  EXPECT_EQ(Zone("r1", 1, 0).elem_size(), 8u);
  EXPECT_EQ(Zone("r13", 13, 0).elem_size(), 16u);
  EXPECT_EQ(Zone("r64", 64, 0).elem_size(), 64u);
}

TEST(Zone, MaxElems) {
  bootstrap();
  Zone z("test.max", 64, 10);
  std::vector<void*> v;
  for (int i = 0; i < 10; ++i) {
    void* p = z.alloc();
    ASSERT_NE(p, nullptr);
    v.push_back(p);
  }
  EXPECT_EQ(z.alloc(), nullptr);
  ZoneStats s = z.stats();
  EXPECT_EQ(s.in_use, 10u);
  EXPECT_EQ(s.max_elems, 10u);
  EXPECT_EQ(s.alloc_failures, 1u);
  z.free(v.back());
  v.pop_back();
  void* p = z.alloc();
  EXPECT_NE(p, nullptr);
  v.push_back(p);
  for (void* e : v) z.free(e);
  z.destroy();
}

TEST(Zone, GrowsByPagesWithDistinctElements) {
  bootstrap();
  Zone z("test.grow", 100, 0);
  const size_t per_page = kPageSize / z.elem_size();
  std::set<uintptr_t> seen;
  std::vector<void*> v;
  for (size_t i = 0; i < 3 * per_page + 1; ++i) {
    void* p = z.alloc();
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(seen.insert(reinterpret_cast<uintptr_t>(p)).second) << "element handed out twice";
    memset(p, 0x5a, z.elem_size());  // whole element usable (ASan checks the bounds)
    v.push_back(p);
  }
  ZoneStats s = z.stats();
  EXPECT_EQ(s.pages, 4u);
  EXPECT_EQ(s.in_use, v.size());
  EXPECT_EQ(s.free_elems, 4 * per_page - v.size());
  // Elements do not overlap.
  uintptr_t prev = 0;
  for (uintptr_t a : seen) {
    if (prev) {
      EXPECT_GE(a - prev, z.elem_size());
    }
    prev = a;
  }
  for (void* p : v) z.free(p);
  EXPECT_EQ(z.stats().free_elems, 4 * per_page);
  z.destroy();
}

TEST(Zone, ElementsLargerThanAPage) {
  bootstrap();
  const size_t before = vm_page_stats().allocated_pages;
  Zone z("test.large", 5000, 0);  // one element per 2-page chunk
  void* a = z.alloc();
  void* b = z.alloc();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  memset(a, 1, 5000);
  memset(b, 2, 5000);
  EXPECT_EQ(arch_virt_to_phys(a) % (2 * kPageSize), 0u);
  EXPECT_EQ(z.stats().pages, 4u);
  EXPECT_EQ(vm_page_stats().allocated_pages, before + 4);
  z.free(a);
  z.free(b);
  z.destroy();
  EXPECT_EQ(vm_page_stats().allocated_pages, before);
}

TEST(Zone, ShortageReturnsNull) {
  bootstrap();
  std::vector<VmPage*> hog;
  while (VmPage* p = vm_page_grab()) hog.push_back(p);
  Zone z("test.short", 32, 0);
  EXPECT_EQ(z.alloc(), nullptr);
  EXPECT_EQ(z.stats().alloc_failures, 1u);
  vm_page_release(hog.back());
  hog.pop_back();
  void* p = z.alloc();
  EXPECT_NE(p, nullptr);
  z.free(p);
  z.destroy();
  for (VmPage* pg : hog) vm_page_release(pg);
}

TEST(Zone, RegistryListsZonesAfterFirstUse) {
  bootstrap();
  Zone a("test.reg.a", 16, 0);
  Zone b("test.reg.b", 16, 0);
  EXPECT_FALSE(registered(&a));
  void* p = a.alloc();
  EXPECT_TRUE(registered(&a));
  EXPECT_FALSE(registered(&b));
  void* q = b.alloc();
  EXPECT_TRUE(registered(&b));

  // The function-pointer form, as a kernel debugger would use it.
  std::vector<std::string> names;
  zone_for_each(
      [](Zone& z, void* ctx) { static_cast<std::vector<std::string>*>(ctx)->push_back(z.name()); },
      &names);
  EXPECT_NE(std::find(names.begin(), names.end(), "test.reg.a"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "test.reg.b"), names.end());

  a.free(p);
  b.free(q);
  a.destroy();
  EXPECT_FALSE(registered(&a));
  EXPECT_TRUE(registered(&b));
  b.destroy();
  EXPECT_FALSE(registered(&b));
}

TEST(Zone, GlobalZones) {
  bootstrap();
  void* p = g_zone.alloc();
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(registered(&g_zone));
  g_zone.free(p);

  Obj* o = g_obj_zone.alloc();
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(o) % alignof(Obj), 0u);
  Obj* o2 = g_obj_zone.alloc();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(o2) % alignof(Obj), 0u);
  new (o) Obj(7);
  EXPECT_EQ(o->a, 7);
  EXPECT_EQ(o->b, 14.0);
  EXPECT_EQ(g_obj_zone.stats().in_use, 2u);
  EXPECT_EQ(g_obj_zone.stats().elem_size, sizeof(Obj));
  o->~Obj();
  g_obj_zone.free(o);
  g_obj_zone.free(o2);

  // The globals must not keep pages across the next test's bootstrap.
  g_zone.destroy();
  g_obj_zone.destroy();
}

TEST(Zone, ConcurrentAllocFree) {
  bootstrap();
  Zone z("test.mt", 48, 0);
  std::vector<std::thread> threads;
  for (unsigned cpu = 0; cpu < 4; ++cpu) {
    threads.emplace_back([&z, cpu] {
      host_set_cpu_id(cpu);
      std::vector<unsigned*> mine;
      for (int round = 0; round < 100; ++round) {
        for (int i = 0; i < 50; ++i) {
          auto* p = static_cast<unsigned*>(z.alloc());
          ASSERT_NE(p, nullptr);
          *p = cpu;
          mine.push_back(p);
        }
        for (unsigned* p : mine) {
          EXPECT_EQ(*p, cpu);
          z.free(p);
        }
        mine.clear();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(z.stats().in_use, 0u);
  z.destroy();
}

TEST(ZoneDeathTest, FreeOfForeignPointerIsCaught) {
  bootstrap();
  Zone z("test.death", 32, 0);
  void* p = z.alloc();
  ASSERT_NE(p, nullptr);
  int on_stack = 0;
  EXPECT_DEATH(z.free(&on_stack), "assertion failed");
  EXPECT_DEATH(z.free(static_cast<char*>(p) + 8), "assertion failed");  // not an element
  // A page from the page allocator that is not the zone's.
  VmPage* pg = vm_page_grab();
  EXPECT_DEATH(z.free(vm_page_to_virt(pg)), "assertion failed");
  // An element of another zone.
  Zone other("test.death.other", 32, 0);
  void* q = other.alloc();
  EXPECT_DEATH(z.free(q), "assertion failed");
  // Local zones leave the registry before they go out of scope.
  other.free(q);
  other.destroy();
  z.free(p);
  z.destroy();
}

TEST(ZoneDeathTest, PastTheLastElementIsCaught) {
  bootstrap();
  Zone z("test.death.tail", 24, 0);  // 170 elements and 16 spare bytes per page
  char* p = static_cast<char*>(z.alloc());
  char* page = p - (arch_virt_to_phys(p) & (kPageSize - 1));
  EXPECT_DEATH(z.free(page + 170 * 24), "assertion failed");
  z.free(p);
  z.destroy();
}

TEST(ZoneDeathTest, FreeingMoreThanAllocatedIsCaught) {
  bootstrap();
  Zone z("test.death.count", 32, 0);
  void* p = z.alloc();
  z.free(p);
  EXPECT_DEATH(z.free(p), "assertion failed");
  z.destroy();
}

TEST(ZoneDeathTest, DestroyWithElementsInUseIsCaught) {
  bootstrap();
  Zone z("test.death.destroy", 32, 0);
  void* p = z.alloc();
  ASSERT_NE(p, nullptr);
  EXPECT_DEATH(z.destroy(), "assertion failed");
  z.free(p);
  z.destroy();
}

}  // namespace
