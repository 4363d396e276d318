// Objects and shadow chains: references, shadows, collapse and bypass, eager copies, and
// sequences of copy-on-write copies, writes and deallocations with the chain length and the
// owner of every page checked after each step.
#include "vm_test_util.h"

namespace {

constexpr vaddr_t P = kPageSize;

using VmObjectTest = VmTest;

// Direct object API: a chain built by hand collapses when the middle loses its other users.
TEST_F(VmObjectTest, ShadowAndCollapseByHand) {
  VmObject* base = vm_object_allocate(4 * P);
  ASSERT_NE(base, nullptr);
  {
    IrqSpinGuard g(base->lock);
    for (uint64_t off = 0; off < 4 * P; off += P) {
      VmPage* p = vm_page_alloc_for(base, off);
      ASSERT_NE(p, nullptr);
      memset(vm_page_to_virt(p), static_cast<int>(off / P + 1), kPageSize);
    }
  }
  // Two users of base: the shadow s (which takes a reference) and `keep`.
  vm_object_reference(base);
  VmObject* keep = base;
  VmObject* s = base;
  uint64_t off = P;  // s sees base from its second page
  ASSERT_EQ(vm_object_shadow(&s, &off, 2 * P), KERN_SUCCESS);
  EXPECT_EQ(off, 0u);
  EXPECT_EQ(s->shadow, base);
  EXPECT_EQ(s->shadow_offset, P);
  EXPECT_EQ(vm_object_chain_length(s), 2u);
  uint64_t where;
  EXPECT_EQ(vm_object_page_owner(s, P, &where), base);
  EXPECT_EQ(where, 2 * P);
  // s gets its own copy of its first page.
  {
    IrqSpinGuard g(s->lock);
    VmPage* p = vm_page_alloc_for(s, 0);
    ASSERT_NE(p, nullptr);
    memset(vm_page_to_virt(p), 0x77, kPageSize);
  }
  EXPECT_EQ(vm_object_page_owner(s, 0, &where), s);
  // Dropping `keep` leaves base with only s's reference: collapse. s keeps its own page,
  // takes base's page 2 (its offset P), and base's pages 0, 1 (shadowed) and 3 (outside
  // s's window) are freed.
  uint64_t before = vm_counters().collapses;
  vm_object_deallocate(keep);
  EXPECT_EQ(vm_counters().collapses, before + 1);
  EXPECT_EQ(vm_object_chain_length(s), 1u);
  EXPECT_EQ(s->shadow, nullptr);
  EXPECT_EQ(s->resident_page_count, 2u);
  EXPECT_EQ(vm_object_page_owner(s, P, &where), s);
  EXPECT_EQ(static_cast<uint8_t*>(vm_page_to_virt(vm_page_lookup(s, P)))[0], 3);
  EXPECT_EQ(static_cast<uint8_t*>(vm_page_to_virt(vm_page_lookup(s, 0)))[0], 0x77);
  EXPECT_EQ(vm_counters().objects_alive, 1u);
  EXPECT_EQ(vm_counters().resident_count, 2u);
  vm_object_deallocate(s);
}

// A page's modified and referenced record outlives its free (machine/pmap.h); entering an
// object with new data, it must start clean, or pageout and lock_request would take the new
// data for dirty (returning it to its pager) or recently used.
TEST_F(VmObjectTest, PageEnteringAnObjectForgetsItsEarlierBits) {
  Pmap* pmap = pmap_create();
  VmPage* page = vm_page_grab();
  ASSERT_NE(page, nullptr);
  paddr_t pa = vm_page_to_phys(page);
  ASSERT_TRUE(pmap_enter(pmap, kTestMin, pa, kProtRead | kProtWrite));
  ASSERT_TRUE(host_pmap_access(pmap, kTestMin, kProtWrite));
  pmap_remove(pmap, kTestMin, kTestMin + P);
  pmap_destroy(pmap);
  ASSERT_TRUE(pmap_is_modified(pa) && pmap_is_referenced(pa));  // its earlier life
  VmObject* o = vm_object_allocate(2 * P);
  ASSERT_NE(o, nullptr);
  {
    IrqSpinGuard g(o->lock);
    vm_page_insert(page, o, 0);
  }
  EXPECT_FALSE(pmap_is_modified(pa));
  EXPECT_FALSE(pmap_is_referenced(pa));
  // The same through vm_page_alloc_for, whichever page it takes: marked first, then freed.
  {
    IrqSpinGuard g(o->lock);
    VmPage* q = vm_page_grab();
    ASSERT_NE(q, nullptr);
    paddr_t qa = vm_page_to_phys(q);
    Pmap* other = pmap_create();
    ASSERT_TRUE(pmap_enter(other, kTestMin, qa, kProtRead | kProtWrite));
    ASSERT_TRUE(host_pmap_access(other, kTestMin, kProtWrite));
    pmap_destroy(other);
    ASSERT_TRUE(pmap_is_modified(qa));
    vm_page_release(q);
    VmPage* r = vm_page_alloc_for(o, P);
    ASSERT_EQ(r, q);  // the allocator gives the page just freed back first
    EXPECT_FALSE(pmap_is_modified(qa));
    EXPECT_FALSE(pmap_is_referenced(qa));
  }
  vm_object_deallocate(o);
}

TEST_F(VmObjectTest, BypassWhenFullyResident) {
  VmObject* base = vm_object_allocate(2 * P);
  ASSERT_NE(base, nullptr);
  vm_object_reference(base);  // a second user, so no collapse happens
  VmObject* s = base;
  uint64_t off = 0;
  ASSERT_EQ(vm_object_shadow(&s, &off, 2 * P), KERN_SUCCESS);
  {
    IrqSpinGuard g(s->lock);
    ASSERT_NE(vm_page_alloc_for(s, 0), nullptr);
  }
  vm_object_try_bypass(s);
  EXPECT_EQ(s->shadow, base);  // one page still comes from base
  {
    IrqSpinGuard g(s->lock);
    ASSERT_NE(vm_page_alloc_for(s, P), nullptr);
  }
  vm_object_try_bypass(s);
  EXPECT_EQ(s->shadow, nullptr);
  EXPECT_EQ(vm_counters().bypasses, 1u);
  EXPECT_EQ(vm_counters().objects_alive, 2u);
  vm_object_deallocate(base);
  vm_object_deallocate(s);
}

TEST_F(VmObjectTest, CopySlowlyCopiesTheVisibleChain) {
  VmObject* base = vm_object_allocate(3 * P);
  {
    IrqSpinGuard g(base->lock);
    VmPage* p = vm_page_alloc_for(base, 2 * P);
    memset(vm_page_to_virt(p), 9, kPageSize);
  }
  vm_object_reference(base);
  VmObject* s = base;
  uint64_t off = 0;
  ASSERT_EQ(vm_object_shadow(&s, &off, 3 * P), KERN_SUCCESS);
  {
    IrqSpinGuard g(s->lock);
    VmPage* p = vm_page_alloc_for(s, 0);
    memset(vm_page_to_virt(p), 5, kPageSize);
  }
  uint64_t copies = vm_counters().page_copies;
  VmObject* c = vm_object_copy_slowly(s, 0, 3 * P);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(vm_counters().page_copies, copies + 2);
  EXPECT_EQ(c->shadow, nullptr);
  EXPECT_EQ(c->resident_page_count, 2u);
  EXPECT_EQ(static_cast<uint8_t*>(vm_page_to_virt(vm_page_lookup(c, 0)))[0], 5);
  EXPECT_EQ(vm_page_lookup(c, P), nullptr);
  EXPECT_EQ(static_cast<uint8_t*>(vm_page_to_virt(vm_page_lookup(c, 2 * P)))[100], 9);
  vm_object_deallocate(c);
  vm_object_deallocate(s);
  vm_object_deallocate(base);
}

// A chain through the map layer: vm_copy, writes on both sides, deallocations.
TEST_F(VmObjectTest, CopyWriteDeallocateSequence) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 4 * P, true), KERN_SUCCESS);
  for (int i = 0; i < 4; ++i) user_write(m, a + i * P, static_cast<uint8_t>(0x10 + i));
  VmObject* original = entry_object(m, a);
  EXPECT_EQ(chain_length(m, a), 1u);

  // Step 1: b = copy of a. Both entries refer to the original, copy-on-write.
  vaddr_t b = 0;
  ASSERT_EQ(vm_allocate(m, &b, 4 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_copy(m, a, 4 * P, b), KERN_SUCCESS);
  EXPECT_EQ(entry_object(m, b), original);
  EXPECT_TRUE(entry_at(m, a).needs_copy);
  EXPECT_TRUE(entry_at(m, b).needs_copy);
  EXPECT_EQ(original->ref_count, 2u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(page_owner(m, b + i * P), original);

  // Step 2: write page 1 of b: b gets a shadow holding just that page.
  user_write(m, b + P, 0xb1);
  EXPECT_EQ(chain_length(m, b), 2u);
  VmObject* sb = entry_object(m, b);
  EXPECT_NE(sb, original);
  EXPECT_EQ(page_owner(m, b + P), sb);
  EXPECT_EQ(page_owner(m, b), original);
  EXPECT_EQ(sb->resident_page_count, 1u);
  EXPECT_EQ(user_read(m, a + P), 0x11);
  EXPECT_EQ(user_read(m, b + P), 0xb1);

  // Step 3: write page 2 of a: a gets its own shadow too (the original has two users).
  user_write(m, a + 2 * P, 0xa2);
  EXPECT_EQ(chain_length(m, a), 2u);
  VmObject* sa = entry_object(m, a);
  EXPECT_EQ(page_owner(m, a + 2 * P), sa);
  EXPECT_EQ(user_read(m, b + 2 * P), 0x12);
  EXPECT_EQ(original->ref_count, 2u);  // the two shadows

  // Step 4: c = copy of b (a chain of two under it).
  vaddr_t c = 0;
  ASSERT_EQ(vm_allocate(m, &c, 4 * P, true), KERN_SUCCESS);
  ASSERT_EQ(vm_copy(m, b, 4 * P, c), KERN_SUCCESS);
  EXPECT_EQ(entry_object(m, c), sb);
  EXPECT_EQ(chain_length(m, c), 2u);
  user_write(m, c + 3 * P, 0xc3);
  EXPECT_EQ(chain_length(m, c), 3u);
  EXPECT_EQ(user_read(m, c + P), 0xb1);
  EXPECT_EQ(user_read(m, c), 0x10);

  // Step 5: deallocate b. sb loses b's reference; its only user is c's shadow: collapse.
  ASSERT_EQ(vm_deallocate(m, b, 4 * P), KERN_SUCCESS);
  EXPECT_EQ(chain_length(m, c), 2u);
  VmObject* sc = entry_object(m, c);
  EXPECT_EQ(page_owner(m, c + P), sc);  // moved up from sb
  EXPECT_EQ(page_owner(m, c + 3 * P), sc);
  EXPECT_EQ(page_owner(m, c), original);
  EXPECT_EQ(user_read(m, c + P), 0xb1);

  // Step 6: deallocate a. The original's users are sa (dying) and sc: collapse into sc.
  ASSERT_EQ(vm_deallocate(m, a, 4 * P), KERN_SUCCESS);
  EXPECT_EQ(chain_length(m, c), 1u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(page_owner(m, c + i * P), sc);
  EXPECT_EQ(user_read(m, c), 0x10);
  EXPECT_EQ(user_read(m, c + P), 0xb1);
  EXPECT_EQ(user_read(m, c + 2 * P), 0x12);
  EXPECT_EQ(user_read(m, c + 3 * P), 0xc3);
  EXPECT_EQ(vm_counters().objects_alive, 1u);
  EXPECT_EQ(vm_counters().resident_count, 4u);
  vm_map_deallocate(m);
}

// Repeated copies of a region that is written after each copy: the chain does not grow
// without bound once the older copies go away.
TEST_F(VmObjectTest, RepeatedCopiesKeepChainsShort) {
  VmMap* m = new_map();
  vaddr_t a = 0;
  ASSERT_EQ(vm_allocate(m, &a, 8 * P, true), KERN_SUCCESS);
  uint8_t val[8];
  for (int i = 0; i < 8; ++i) user_write(m, a + i * P, val[i] = 1);
  for (int round = 0; round < 100; ++round) {
    vaddr_t b = 0;
    ASSERT_EQ(vm_allocate(m, &b, 8 * P, true), KERN_SUCCESS);
    ASSERT_EQ(vm_copy(m, a, 8 * P, b), KERN_SUCCESS);
    uint8_t snap[8];
    memcpy(snap, val, sizeof(val));
    int i = round % 8;
    user_write(m, a + i * P, val[i] = static_cast<uint8_t>(round + 2));
    user_write(m, b + ((round + 3) % 8) * P, 0xff);
    EXPECT_LE(chain_length(m, a), 2u);
    EXPECT_EQ(user_read(m, b + i * P), snap[i]);
    EXPECT_EQ(user_read(m, a + i * P), val[i]);
    ASSERT_EQ(vm_deallocate(m, b, 8 * P), KERN_SUCCESS);
    EXPECT_EQ(chain_length(m, a), 1u) << round;
  }
  for (int i = 0; i < 8; ++i) EXPECT_EQ(user_read(m, a + i * P), val[i]);
  EXPECT_EQ(vm_counters().objects_alive, 1u);
  EXPECT_EQ(vm_counters().resident_count, 8u);
  vm_map_deallocate(m);
}

}  // namespace
