// The IPC name space: alloc/lookup/free, caller-chosen names, rename, the reverse map,
// growth and shrinking with page accounting, delayed name reuse, names() ordering, the
// entry limit, for_each that frees, memory shortage, and a randomized model check.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "arch/host_arch.h"
#include "ipc/ipc_space.h"
#include "vm/vm_page.h"

namespace {

void bootstrap() {
  static const PhysRange r = host_phys_all();
  vm_page_bootstrap(&r, 1);
}

// Distinct fake object addresses for the reverse map.
void* obj(uintptr_t i) { return reinterpret_cast<void*>(0x10000 + i * 64); }

IpcEntry* must_alloc(IpcSpace& s) {
  IpcEntry* e = nullptr;
  EXPECT_EQ(s.alloc(&e), KERN_SUCCESS);
  return e;
}

// A constant-initialized global space, as a Task member will be.
constinit IpcSpace g_space;

TEST(IpcSpace, AllocLookupFree) {
  bootstrap();
  const size_t base = vm_page_stats().allocated_pages;
  IpcSpace s;
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.table_pages(), 0u);
  EXPECT_EQ(s.lookup(1), nullptr);

  IpcEntry* a = must_alloc(s);
  IpcEntry* b = must_alloc(s);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->name, 1u);  // GNU Mach's first names: 1, 2, ...
  EXPECT_EQ(b->name, 2u);
  EXPECT_EQ(a->type, 0u);
  EXPECT_EQ(a->urefs, 0u);
  EXPECT_EQ(a->object, nullptr);
  EXPECT_EQ(a->request, 0u);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.lookup(a->name), a);
  EXPECT_EQ(s.lookup(b->name), b);
  EXPECT_EQ(s.lookup(MACH_PORT_NULL), nullptr);
  EXPECT_EQ(s.lookup(MACH_PORT_NAME_DEAD), nullptr);
  EXPECT_EQ(s.lookup(12345), nullptr);

  a->type = MACH_PORT_TYPE_SEND;
  a->urefs = 3;
  EXPECT_EQ(s.lookup(1)->urefs, 3u);
  s.free(a);
  EXPECT_EQ(s.lookup(1), nullptr);
  EXPECT_EQ(s.lookup(2), b);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_GT(s.table_pages(), 0u);
  EXPECT_EQ(vm_page_stats().allocated_pages, base + s.table_pages());
  s.destroy();
  EXPECT_EQ(s.table_pages(), 0u);
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(vm_page_stats().allocated_pages, base);

  // Destroyed is as new: names start over.
  EXPECT_EQ(must_alloc(s)->name, 1u);
  s.destroy();

  EXPECT_EQ(must_alloc(g_space)->name, 1u);
  g_space.destroy();
  EXPECT_EQ(vm_page_stats().allocated_pages, base);
}

TEST(IpcSpace, AllocNameCollisionsAndInvalid) {
  bootstrap();
  IpcSpace s;
  IpcEntry* e = nullptr;
  EXPECT_EQ(s.alloc_name(MACH_PORT_NULL, &e), KERN_INVALID_VALUE);
  EXPECT_EQ(s.alloc_name(MACH_PORT_NAME_DEAD, &e), KERN_INVALID_VALUE);
  EXPECT_EQ(s.size(), 0u);

  ASSERT_EQ(s.alloc_name(0x1234, &e), KERN_SUCCESS);
  EXPECT_EQ(e->name, 0x1234u);
  EXPECT_EQ(s.lookup(0x1234), e);
  IpcEntry* dup = nullptr;
  EXPECT_EQ(s.alloc_name(0x1234, &dup), KERN_NAME_EXISTS);
  EXPECT_EQ(dup, nullptr);
  ASSERT_EQ(s.alloc_name(0xfffffffe, &e), KERN_SUCCESS);  // the largest valid name

  // alloc() moves past names the caller took.
  ASSERT_EQ(s.alloc_name(1, &e), KERN_SUCCESS);
  ASSERT_EQ(s.alloc_name(2, &e), KERN_SUCCESS);
  ASSERT_EQ(s.alloc_name(4, &e), KERN_SUCCESS);
  EXPECT_EQ(must_alloc(s)->name, 3u);
  EXPECT_EQ(must_alloc(s)->name, 5u);
  EXPECT_EQ(s.alloc_name(5, &e), KERN_NAME_EXISTS);
  EXPECT_EQ(s.size(), 7u);
  s.destroy();
}

TEST(IpcSpace, Rename) {
  bootstrap();
  IpcSpace s;
  IpcEntry* a = must_alloc(s);
  IpcEntry* b = must_alloc(s);
  a->type = MACH_PORT_TYPE_RECEIVE;
  a->object = obj(1);
  a->request = 7;
  ASSERT_EQ(s.reverse_insert(a), KERN_SUCCESS);

  IpcEntry* out = nullptr;
  EXPECT_EQ(s.rename(a, b->name, &out), KERN_NAME_EXISTS);
  EXPECT_EQ(s.rename(a, a->name, &out), KERN_NAME_EXISTS);
  EXPECT_EQ(s.rename(a, MACH_PORT_NULL, &out), KERN_INVALID_VALUE);
  EXPECT_EQ(s.rename(a, MACH_PORT_NAME_DEAD, &out), KERN_INVALID_VALUE);
  EXPECT_EQ(out, nullptr);

  ASSERT_EQ(s.rename(a, 0x777, &out), KERN_SUCCESS);
  EXPECT_EQ(out, a);
  EXPECT_EQ(out->name, 0x777u);
  EXPECT_EQ(s.lookup(1), nullptr);
  EXPECT_EQ(s.lookup(0x777), out);
  EXPECT_EQ(out->type, MACH_PORT_TYPE_RECEIVE);
  EXPECT_EQ(out->request, 7u);
  EXPECT_EQ(s.reverse_lookup(obj(1)), out);
  EXPECT_EQ(s.size(), 2u);
  // The old name is free for the caller again.
  IpcEntry* c = nullptr;
  EXPECT_EQ(s.alloc_name(1, &c), KERN_SUCCESS);
  s.destroy();
}

TEST(IpcSpace, ReverseMap) {
  bootstrap();
  IpcSpace s;
  EXPECT_EQ(s.reverse_lookup(nullptr), nullptr);
  EXPECT_EQ(s.reverse_lookup(obj(1)), nullptr);
  IpcEntry* a = must_alloc(s);
  IpcEntry* b = must_alloc(s);
  a->object = obj(1);
  b->object = obj(2);
  ASSERT_EQ(s.reverse_insert(a), KERN_SUCCESS);
  ASSERT_EQ(s.reverse_insert(b), KERN_SUCCESS);
  EXPECT_TRUE(IpcSpace::in_reverse(a));
  EXPECT_EQ(s.reverse_lookup(obj(1)), a);
  EXPECT_EQ(s.reverse_lookup(obj(2)), b);
  EXPECT_EQ(s.reverse_lookup(obj(3)), nullptr);

  s.reverse_remove(a);
  EXPECT_FALSE(IpcSpace::in_reverse(a));
  EXPECT_EQ(s.reverse_lookup(obj(1)), nullptr);
  EXPECT_EQ(s.lookup(a->name), a);  // the entry itself stays

  // free() drops the reverse mapping with the entry.
  s.free(b);
  EXPECT_EQ(s.reverse_lookup(obj(2)), nullptr);

  // An entry that shares an object without being registered (a port set member, say) is
  // invisible to the reverse map.
  IpcEntry* c = must_alloc(s);
  c->object = obj(1);
  EXPECT_EQ(s.reverse_lookup(obj(1)), nullptr);
  ASSERT_EQ(s.reverse_insert(c), KERN_SUCCESS);
  EXPECT_DEATH(s.reverse_insert(a), "assertion failed");  // obj(1) already has an entry
  EXPECT_DEATH(s.reverse_remove(a), "assertion failed");  // not registered
  s.destroy();
}

TEST(IpcSpace, GrowthShrinkAndStablePointers) {
  bootstrap();
  const size_t base = vm_page_stats().allocated_pages;
  IpcSpace s;
  constexpr size_t kN = 5000;
  std::vector<IpcEntry*> es;
  std::vector<mach_port_name_t> ns;
  for (size_t i = 0; i < kN; ++i) {
    IpcEntry* e = must_alloc(s);
    ASSERT_NE(e, nullptr);
    e->object = obj(i);
    e->urefs = static_cast<uint32_t>(i);
    ASSERT_EQ(s.reverse_insert(e), KERN_SUCCESS);
    es.push_back(e);
    ns.push_back(e->name);
  }
  EXPECT_EQ(s.size(), kN);
  const size_t big = s.table_pages();
  EXPECT_EQ(vm_page_stats().allocated_pages, base + big);
  // The entries never moved while the tables grew.
  for (size_t i = 0; i < kN; ++i) {
    ASSERT_EQ(s.lookup(ns[i]), es[i]);
    ASSERT_EQ(s.reverse_lookup(obj(i)), es[i]);
    ASSERT_EQ(es[i]->urefs, i);
  }
  // Free all but the last few: the tables and chunks shrink back.
  for (size_t i = 0; i + 3 < kN; ++i) s.free(es[i]);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_LE(s.table_pages(), 5u);  // at most: 2 chunks (one spare), 1 + 1 table pages
  EXPECT_LT(s.table_pages(), big);
  EXPECT_EQ(vm_page_stats().allocated_pages, base + s.table_pages());
  for (size_t i = kN - 3; i < kN; ++i) {
    EXPECT_EQ(s.lookup(ns[i]), es[i]);
    EXPECT_EQ(s.reverse_lookup(obj(i)), es[i]);
  }
  s.destroy();
  EXPECT_EQ(vm_page_stats().allocated_pages, base);
}

TEST(IpcSpace, NoImmediateNameReuse) {
  bootstrap();
  IpcSpace s;
  must_alloc(s);  // keep one entry so the space is never empty
  std::set<mach_port_name_t> seen;
  for (int i = 0; i < 20000; ++i) {
    IpcEntry* e = must_alloc(s);
    ASSERT_TRUE(seen.insert(e->name).second) << "name reused: " << e->name;
    s.free(e);
  }
  // Also when many are freed at once.
  std::vector<IpcEntry*> batch;
  for (int i = 0; i < 300; ++i) batch.push_back(must_alloc(s));
  for (IpcEntry* e : batch) seen.insert(e->name), s.free(e);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(seen.count(must_alloc(s)->name), 0u);
  s.destroy();
}

TEST(IpcSpace, NamesAscending) {
  bootstrap();
  IpcSpace s;
  std::mt19937 rng(7);
  std::set<mach_port_name_t> model;
  for (int i = 0; i < 700; ++i) {
    IpcEntry* e = nullptr;
    if (i % 3 == 0) {
      mach_port_name_t n = rng() | 1;
      if (s.alloc_name(n, &e) == KERN_SUCCESS) model.insert(n);
    } else {
      model.insert(must_alloc(s)->name);
    }
  }
  std::vector<mach_port_name_t> want(model.begin(), model.end());
  std::vector<mach_port_name_t> got(want.size() + 5, 0);
  EXPECT_EQ(s.names(got.data(), got.size()), want.size());
  got.resize(want.size());
  EXPECT_EQ(got, want);

  // A short buffer gets the smallest names, still in order, and the full count.
  std::vector<mach_port_name_t> few(10);
  EXPECT_EQ(s.names(few.data(), few.size()), want.size());
  EXPECT_TRUE(std::equal(few.begin(), few.end(), want.begin()));
  EXPECT_EQ(s.names(nullptr, 0), want.size());
  s.destroy();
  EXPECT_EQ(s.names(nullptr, 0), 0u);
}

TEST(IpcSpace, MaxEntries) {
  bootstrap();
  const size_t base = vm_page_stats().allocated_pages;
  IpcSpace s;
  for (size_t i = 0; i < IpcSpace::kMaxEntries; ++i) {
    IpcEntry* e = nullptr;
    ASSERT_EQ(s.alloc(&e), KERN_SUCCESS) << i;
  }
  EXPECT_EQ(s.size(), IpcSpace::kMaxEntries);
  IpcEntry* e = nullptr;
  EXPECT_EQ(s.alloc(&e), KERN_NO_SPACE);
  EXPECT_EQ(s.alloc_name(0x80000000, &e), KERN_NO_SPACE);
  EXPECT_EQ(s.alloc_name(5, &e), KERN_NAME_EXISTS);  // name checks come first
  s.free(s.lookup(5));
  EXPECT_EQ(s.alloc_name(0x80000000, &e), KERN_SUCCESS);
  EXPECT_EQ(s.alloc(&e), KERN_NO_SPACE);
  s.destroy();
  EXPECT_EQ(vm_page_stats().allocated_pages, base);
}

TEST(IpcSpace, ForEachFreeing) {
  bootstrap();
  const size_t base = vm_page_stats().allocated_pages;
  IpcSpace s;
  std::set<mach_port_name_t> all;
  for (int i = 0; i < 1000; ++i) all.insert(must_alloc(s)->name);

  // Free every entry as it is visited, and also some not yet visited.
  std::set<mach_port_name_t> visited;
  size_t calls = 0;
  s.for_each([&](IpcEntry* e) {
    ++calls;
    EXPECT_TRUE(all.count(e->name));
    EXPECT_TRUE(visited.insert(e->name).second);
    const mach_port_name_t other = e->name + 500;
    s.free(e);
    if (IpcEntry* o = s.lookup(other)) s.free(o);
  });
  EXPECT_EQ(calls, 500u);  // names 501..1000 are freed by their partners first
  EXPECT_EQ(s.size(), 0u);
  EXPECT_LE(s.table_pages(), 2u);  // empty chunks released after the walk, but one spare

  // Freeing only some, with nested read-only walks.
  for (int i = 0; i < 300; ++i) must_alloc(s)->urefs = i % 2;
  size_t inner = 0;
  s.for_each([&](IpcEntry* e) {
    if (inner == 0) s.for_each([&](IpcEntry*) { ++inner; });
    if (e->urefs) s.free(e);
  });
  EXPECT_EQ(inner, 300u);
  EXPECT_EQ(s.size(), 150u);
  size_t left = 0;
  s.for_each([&](IpcEntry* e) { left += e->urefs == 0; });
  EXPECT_EQ(left, 150u);
  s.destroy();
  EXPECT_EQ(vm_page_stats().allocated_pages, base);
}

TEST(IpcSpace, ResourceShortageLeavesSpaceUnchanged) {
  bootstrap();
  IpcSpace s;
  IpcEntry* a = must_alloc(s);
  a->object = obj(1);
  // Take every free page.
  std::vector<VmPage*> hog;
  while (VmPage* p = vm_page_grab()) hog.push_back(p);

  // Fill the chunk we have; the next entry needs a page.
  std::vector<IpcEntry*> es;
  kern_return_t kr;
  IpcEntry* e = nullptr;
  while ((kr = s.alloc(&e)) == KERN_SUCCESS) es.push_back(e);
  EXPECT_EQ(kr, KERN_RESOURCE_SHORTAGE);
  const size_t n = s.size();
  EXPECT_EQ(s.alloc_name(0x4242, &e), KERN_RESOURCE_SHORTAGE);
  EXPECT_EQ(s.lookup(0x4242), nullptr);
  EXPECT_EQ(s.reverse_insert(a), KERN_RESOURCE_SHORTAGE);  // no reverse table yet
  EXPECT_FALSE(IpcSpace::in_reverse(a));
  EXPECT_EQ(s.size(), n);
  EXPECT_EQ(s.lookup(a->name), a);
  // The failed alloc did not burn a name.
  for (VmPage* p : hog) vm_page_release(p);
  const mach_port_name_t next = es.back()->name + 1;
  ASSERT_EQ(s.alloc(&e), KERN_SUCCESS);
  EXPECT_EQ(e->name, next);
  EXPECT_EQ(s.reverse_insert(a), KERN_SUCCESS);
  s.destroy();
}

// Random operations against a std::map model of names -> (object, registered).
TEST(IpcSpace, RandomizedAgainstModel) {
  bootstrap();
  const size_t base = vm_page_stats().allocated_pages;
  IpcSpace s;
  struct Model {
    uintptr_t object;  // 0: none
    bool reversed;
    uint32_t urefs;
  };
  std::map<mach_port_name_t, Model> model;
  std::map<uintptr_t, mach_port_name_t> rev;
  std::mt19937 rng(1234);
  auto random_name = [&]() -> mach_port_name_t {
    if (!model.empty() && rng() % 2) {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      return it->first;
    }
    return rng() % 4000;  // small range: collisions with alloc()'s names and each other
  };
  auto check = [&] {
    ASSERT_EQ(s.size(), model.size());
    std::vector<mach_port_name_t> got(model.size());
    ASSERT_EQ(s.names(got.data(), got.size()), model.size());
    size_t i = 0;
    for (auto& [name, m] : model) {
      ASSERT_EQ(got[i++], name);
      IpcEntry* e = s.lookup(name);
      ASSERT_NE(e, nullptr);
      ASSERT_EQ(e->name, name);
      ASSERT_EQ(reinterpret_cast<uintptr_t>(e->object), m.object);
      ASSERT_EQ(e->urefs, m.urefs);
      ASSERT_EQ(IpcSpace::in_reverse(e), m.reversed);
    }
    for (auto& [o, name] : rev)
      ASSERT_EQ(s.reverse_lookup(reinterpret_cast<void*>(o)), s.lookup(name));
    size_t count = 0;
    s.for_each([&](IpcEntry*) { ++count; });
    ASSERT_EQ(count, model.size());
  };
  uintptr_t next_obj = 1;
  size_t peak = 0;
  for (int step = 0; step < 40000; ++step) {
    // The last third mostly frees, so the tables shrink under the same checks.
    unsigned op = rng() % 100;
    if (step >= 26000 && op < 45) op += 45;
    IpcEntry* e = nullptr;
    if (op < 30 || model.size() < 10) {  // alloc
      if (model.size() >= 3000) continue;
      ASSERT_EQ(s.alloc(&e), KERN_SUCCESS);
      ASSERT_EQ(model.count(e->name), 0u);
      e->urefs = rng() % 100;
      model[e->name] = Model{0, false, e->urefs};
    } else if (op < 45) {  // alloc_name
      const mach_port_name_t n = random_name();
      const kern_return_t want = !MACH_PORT_NAME_VALID(n) ? KERN_INVALID_VALUE
                                 : model.count(n)         ? KERN_NAME_EXISTS
                                                          : KERN_SUCCESS;
      ASSERT_EQ(s.alloc_name(n, &e), want);
      if (want == KERN_SUCCESS) model[n] = Model{0, false, 0};
    } else if (op < 70) {  // free
      const mach_port_name_t n = random_name();
      e = s.lookup(n);
      ASSERT_EQ(e != nullptr, model.count(n) == 1);
      if (!e) continue;
      if (model[n].reversed) rev.erase(model[n].object);
      model.erase(n);
      s.free(e);
    } else if (op < 80) {  // rename
      const mach_port_name_t from = random_name(), to = random_name();
      e = s.lookup(from);
      if (!e) continue;
      const kern_return_t want = !MACH_PORT_NAME_VALID(to) ? KERN_INVALID_VALUE
                                 : model.count(to)         ? KERN_NAME_EXISTS
                                                           : KERN_SUCCESS;
      IpcEntry* out = nullptr;
      ASSERT_EQ(s.rename(e, to, &out), want);
      if (want != KERN_SUCCESS) continue;
      ASSERT_EQ(out, e);
      Model m = model[from];
      model.erase(from);
      model[to] = m;
      if (m.reversed) rev[m.object] = to;
    } else if (op < 92) {  // reverse_insert
      e = s.lookup(random_name());
      if (!e || IpcSpace::in_reverse(e)) continue;
      const uintptr_t o = next_obj++ * 16;
      e->object = reinterpret_cast<void*>(o);
      ASSERT_EQ(s.reverse_insert(e), KERN_SUCCESS);
      model[e->name].object = o;
      model[e->name].reversed = true;
      rev[o] = e->name;
    } else {  // reverse_remove
      e = s.lookup(random_name());
      if (!e || !IpcSpace::in_reverse(e)) continue;
      s.reverse_remove(e);
      rev.erase(model[e->name].object);
      model[e->name].reversed = false;
    }
    peak = std::max(peak, model.size());
    if (step % 2000 == 0) check();
    if (HasFatalFailure()) return;
  }
  check();
  EXPECT_LT(model.size(), 100u);
  EXPECT_GE(peak, 2500u);
  EXPECT_EQ(vm_page_stats().allocated_pages, base + s.table_pages());
  s.destroy();
  EXPECT_EQ(vm_page_stats().allocated_pages, base);
}

}  // namespace
