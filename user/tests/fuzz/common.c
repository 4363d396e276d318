/* The fuzz's common ground: the PRNG, what it must not touch, its own memory, its pool of
   ports and random names, scratch memory and the sweep back to the protected state. */
#include <mach.h>
#include <string.h>
#include <test/mach_util.h>

#include "fuzz.h"

/* --- The PRNG (fuzz.h) --- */

static uint64_t rng_state;

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void rng_iteration(int test, long i) {
  rng_state = seed ^ ((uint64_t)test << 48) ^ ((uint64_t)i * 0x2545f4914f6cdd1dull);
  splitmix(&rng_state);
}

uint64_t rnd64(void) { return splitmix(&rng_state); }
uint32_t rnd32(void) { return (uint32_t)rnd64(); }
/* Uniform in [0, n), n > 0. */
uint32_t rnd(uint32_t n) { return (uint32_t)(rnd64() % n); }
/* True with probability pct %. */
bool chance(uint32_t pct) { return rnd(100) < pct; }

bool tracing(long i) { return trace_from >= 0 && i >= trace_from; }

/* --- What the fuzz must not touch --- */

mach_port_t self_task, self_thread, self_host;

mach_port_t protected_names[kMaxProtectedNames];
int n_protected_names;

struct range protected_ranges[kMaxProtectedRanges];
int n_protected_ranges;

bool name_protected(mach_port_t name) {
  for (int i = 0; i < n_protected_names; i++)
    if (protected_names[i] == name) return true;
  return false;
}

/* Whether the pages of [addr, addr + size), as the kernel rounds them (and wraps them past
   2^64), touch a protected region. */
bool range_protected(uint64_t addr, uint64_t size) {
  uint64_t page = vm_page_size;
  unsigned __int128 start = addr & ~(page - 1);
  unsigned __int128 end =
      ((unsigned __int128)addr + size + page - 1) & ~(unsigned __int128)(page - 1);
  if (size == 0) end = start + page; /* be careful with empty ranges too */
  unsigned __int128 top = (unsigned __int128)1 << 64;
  for (int i = 0; i < n_protected_ranges; i++) {
    unsigned __int128 s = protected_ranges[i].start, e = protected_ranges[i].end;
    if (start < e && s < end) return true;
    if (end > top && s < end - top) return true; /* the part that wraps to 0 */
  }
  return false;
}

/* The regions of our map, in address order. */
int map_regions(struct range *out, int max) {
  int n = 0;
  vm_address_t addr = 0;
  for (;;) {
    vm_size_t size = 0;
    vm_prot_t prot, maxprot;
    vm_inherit_t inherit;
    boolean_t shared;
    mach_port_t object = MACH_PORT_NULL;
    vm_offset_t offset;
    if (vm_region(self_task, &addr, &size, &prot, &maxprot, &inherit, &shared, &object, &offset) !=
        KERN_SUCCESS)
      break;
    if (MACH_PORT_VALID(object)) mach_port_deallocate(self_task, object);
    if (n < max) out[n++] = (struct range){addr, addr + size};
    if (addr + size <= addr) break;
    addr += size;
  }
  return n;
}

/* --- The fuzz's own memory (its layout: fuzz.h) --- */

uint8_t *arena;
uint64_t arena_writable_end; /* end of the read-only page: nothing of ours beyond */

/* Each part of the arena is an allocation of its own, so each has an object of its own. Parts
   of one allocation would share one object, and a copy-on-write copy of one part (an
   out-of-line message) would leave a shadow object in front of it that can never collapse
   (the other parts still refer to the backing object): the object count would stay one up
   although nothing leaked. */
void make_arena(void) {
  vm_address_t a = 0;
  uint64_t page = vm_page_size;
  KR_OK(vm_allocate(self_task, &a, kArenaPages * page, TRUE));
  KR_OK(vm_deallocate(self_task, a, kArenaPages * page));
  vm_address_t part = a;
  KR_OK(vm_allocate(self_task, &part, kTouched * page, FALSE));
  part = a + (kTouched + 1) * page;
  KR_OK(vm_allocate(self_task, &part, 2 * page, FALSE));
  part = a + (kTouched + 3) * page;
  KR_OK(vm_allocate(self_task, &part, page, FALSE));
  arena = (uint8_t *)a;
  memset(arena, 0, kTouched * page);
  arena[(kTouched + 3) * page] = 1;
  KR_OK(vm_protect(self_task, a + (kTouched + 3) * page, page, FALSE, VM_PROT_READ));
  arena_writable_end = a + (kTouched + 4) * page;
}

/* --- A pool of ports the fuzz owns, and random names --- */

mach_port_t pool[kPool];

/* The one port besides the kernel's that messages carrying receive rights go to. It never
   travels itself, so receive rights in transit never form a cycle: a receive right inside
   a message queued on its own port (directly or through others) is accepted by Mica, as by
   GNU Mach, but such a message is reachable only through itself and is never destroyed
   (docs/ipc.md, "Not yet": no full circularity check). Made after each sweep. */
mach_port_t sink;

/* A new right of a random kind for a pool slot. */
static mach_port_t new_pool_name(void) {
  mach_port_t name = MACH_PORT_NULL;
  switch (rnd(8)) {
    case 0:
      mach_port_allocate(self_task, MACH_PORT_RIGHT_PORT_SET, &name);
      break;
    case 1:
      mach_port_allocate(self_task, MACH_PORT_RIGHT_DEAD_NAME, &name);
      break;
    case 2: { /* a send-once right to a port of the pool */
      mach_port_t r = pool[rnd(kPool)];
      mach_msg_type_name_t type;
      if (mach_port_extract_right(self_task, r, MACH_MSG_TYPE_MAKE_SEND_ONCE, &name, &type) !=
          KERN_SUCCESS)
        name = MACH_PORT_NULL;
      break;
    }
    case 3:
    case 4:
      mach_port_allocate(self_task, MACH_PORT_RIGHT_RECEIVE, &name);
      break;
    default:
      mach_port_allocate(self_task, MACH_PORT_RIGHT_RECEIVE, &name);
      if (MACH_PORT_VALID(name))
        mach_port_insert_right(self_task, name, name, MACH_MSG_TYPE_MAKE_SEND);
      break;
  }
  return name;
}

void pool_refill(void) {
  for (int i = 0; i < kPool; i++) {
    mach_port_type_t t = 0;
    if (!MACH_PORT_VALID(pool[i]) || mach_port_type(self_task, pool[i], &t) != KERN_SUCCESS ||
        name_protected(pool[i]))
      pool[i] = new_pool_name();
  }
}

/* A pool port we hold the receive right of (or MACH_PORT_NULL). */
mach_port_t pool_receiver(void) {
  for (int tries = 0; tries < kPool; tries++) {
    mach_port_t p = pool[rnd(kPool)];
    mach_port_type_t t = 0;
    if (MACH_PORT_VALID(p) && mach_port_type(self_task, p, &t) == KERN_SUCCESS &&
        (t & MACH_PORT_TYPE_RECEIVE))
      return p;
  }
  return MACH_PORT_NULL;
}

/* The child task of fuzz_kernel_calls, if any. A task lives on when the last right to its
   port goes, so its name is never given to a random call: only end_child loses it. */
mach_port_t child_task = MACH_PORT_NULL;

/* A random name that is not protected: mostly the pool, sometimes null, dead, or a number. */
mach_port_t rand_name(void) {
  mach_port_t n;
  uint32_t r = rnd(100);
  if (r < 60) return pool[rnd(kPool)];
  if (r < 66) return MACH_PORT_NULL;
  if (r < 72) return MACH_PORT_DEAD;
  if (r < 88)
    n = 1 + rnd(96);
  else
    n = rnd32();
  return name_protected(n) || n == sink || n == child_task ? pool[rnd(kPool)] : n;
}

/* A random disposition: mostly a valid one, sometimes 0 or garbage. */
mach_msg_type_name_t rand_disp(void) {
  uint32_t r = rnd(100);
  if (r < 75) return MACH_MSG_TYPE_MOVE_RECEIVE + rnd(6);
  if (r < 82) return 0;
  if (r < 90) return MACH_MSG_TYPE_PORT_NAME + rnd(10); /* 15..24 */
  return rnd(256);
}

/* --- Scratch memory for out-of-line data: fresh each iteration, the fuzz's to lose --- */

static vm_address_t scratch;

vm_address_t get_scratch(void) {
  if (!scratch) {
    if (vm_allocate(self_task, &scratch, kScratchPages * vm_page_size, TRUE) != KERN_SUCCESS)
      scratch = 0;
    else if (range_protected(scratch, kScratchPages * vm_page_size))
      scratch = 0; /* cannot happen: regions do not overlap */
    else
      for (uint32_t *w = (uint32_t *)scratch;
           w < (uint32_t *)(scratch + kScratchPages * vm_page_size); w++)
        *w = chance(70) ? rand_name() : rnd32();
  }
  return scratch;
}

void drop_scratch(void) {
  if (scratch) vm_deallocate(self_task, scratch, kScratchPages * vm_page_size);
  scratch = 0;
}

/* --- Cleanup: back to the protected state --- */

/* Destroys every name that is not protected and deallocates every region (or part of one)
   that is not protected. */
/* The arena's never-touched pages are made anew at each sweep: they are untouched again for
   the next iterations, and the object a touch gives them does not count against the baseline
   (otherwise whether the warm-up happened to touch them would decide it: with children=1 the
   seeds 3 to 6 and 8 ended one object over). */
static void renew_lazy_pages(void) {
  if (!arena) return;
  vm_address_t lazy = (vm_address_t)arena + (kTouched + 1) * vm_page_size;
  KR_OK(vm_deallocate(self_task, lazy, 2 * vm_page_size));
  KR_OK(vm_allocate(self_task, &lazy, 2 * vm_page_size, FALSE));
}

void sweep(void) {
  for (int pass = 0; pass < 4; pass++) {
    mach_port_name_array_t names = NULL;
    mach_port_type_array_t types = NULL;
    mach_msg_type_number_t nn = 0, nt = 0;
    if (mach_port_names(self_task, &names, &nn, &types, &nt) != KERN_SUCCESS) break;
    int destroyed = 0;
    for (mach_msg_type_number_t i = 0; i < nn; i++)
      if (!name_protected(names[i])) {
        mach_port_destroy(self_task, names[i]);
        destroyed++;
      }
    vm_deallocate(self_task, (vm_address_t)names, nn * sizeof *names);
    vm_deallocate(self_task, (vm_address_t)types, nt * sizeof *types);
    if (!destroyed) break;
  }
  for (int i = 0; i < kPool; i++) pool[i] = MACH_PORT_NULL;
  scratch = 0;
  sink = MACH_PORT_NULL;
  /* Regions: whatever is outside the protected ranges goes. */
  static struct range regions[512];
  int n = map_regions(regions, 512);
  for (int i = 0; i < n; i++) {
    uint64_t s = regions[i].start, e = regions[i].end;
    while (s < e) {
      /* The first protected range that overlaps [s, e). */
      const struct range *first = NULL;
      for (int j = 0; j < n_protected_ranges; j++) {
        const struct range *p = &protected_ranges[j];
        if (p->start < e && s < p->end && (!first || p->start < first->start)) first = p;
      }
      uint64_t cut_start = e, cut_end = e;
      if (first) {
        cut_start = first->start < s ? s : first->start;
        cut_end = first->end > e ? e : first->end;
      }
      if (cut_start > s) vm_deallocate(self_task, s, cut_start - s);
      s = cut_end;
    }
  }
  renew_lazy_pages();
}
