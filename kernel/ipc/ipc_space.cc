// A task's port name space: entry chunks, the name and reverse hash tables, name choice.
// See ipc_space.h for the layout and the rule on pointer validity.
#include "ipc/ipc_space.h"

#include <string.h>

#include "kern/assert.h"
#include "lib/new.h"
#include "vm/vm_page.h"
#include "kern/hot.h"

static_assert(sizeof(IpcEntry) == 32, "IpcEntry should stay at 32 bytes, 126 to a chunk");

// ---- EntryTable: linear probing over a power-of-two array of IpcEntry* ----


MICA_HOT bool IpcSpace::EntryTable::reserve(size_t n) {
  // At most half full keeps probe sequences short.
  if (slots_ && n * 2 <= capacity()) return true;
  unsigned order = 0;
  while ((kPageSize << order) / sizeof(void*) < n * 2) ++order;
  if (order > kVmPageMaxOrder) return false;
  return resize(order);
}

bool IpcSpace::EntryTable::resize(unsigned order) {
  VmPage* page = vm_page_alloc(order);
  if (!page) return false;
  auto** slots = static_cast<IpcEntry**>(vm_page_to_virt(page));
  const size_t cap = (kPageSize << order) / sizeof(void*);
  memset(slots, 0, cap * sizeof(void*));

  IpcEntry** old_slots = slots_;
  VmPage* old_page = page_;
  const size_t old_cap = capacity();
  const unsigned old_order = order_;

  page_ = page;
  slots_ = slots;
  order_ = order;
  bits_ = 0;
  while ((size_t{1} << bits_) < cap) ++bits_;
  count_ = 0;
  for (size_t i = 0; i < old_cap; ++i)
    if (old_slots[i]) insert(old_slots[i]);
  if (old_page) vm_page_free(old_page, old_order);
  return true;
}

MICA_HOT void IpcSpace::EntryTable::insert(IpcEntry* e) {
  kassert(slots_ && (count_ + 1) * 2 <= capacity());
  const size_t mask = capacity() - 1;
  size_t i = home(key_of(e));
  while (slots_[i]) i = (i + 1) & mask;
  slots_[i] = e;
  ++count_;
}

MICA_HOT void IpcSpace::EntryTable::remove(IpcEntry* e) {
  kassert(slots_);
  const size_t mask = capacity() - 1;
  size_t i = home(key_of(e));
  while (slots_[i] != e) {
    kassert(slots_[i] != nullptr);  // not in the table
    i = (i + 1) & mask;
  }
  // Backward shift: pull each later entry of the cluster into the hole unless its home
  // lies cyclically in (hole, its slot], where the hole would not be on its probe path.
  for (size_t j = (i + 1) & mask; slots_[j]; j = (j + 1) & mask) {
    const size_t k = home(key_of(slots_[j]));
    const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = nullptr;
  --count_;
}

MICA_HOT void IpcSpace::EntryTable::shrink() {
  // Halving at an eighth full leaves the table a quarter full, so a table that shrinks
  // must double its entries before it grows again: resizing stays amortized O(1).
  while (slots_ && order_ > 0 && count_ * 8 <= capacity()) {
    if (!resize(order_ - 1)) return;  // memory short: keep the larger table
  }
}

void IpcSpace::EntryTable::destroy() {
  if (page_) vm_page_free(page_, order_);
  page_ = nullptr;
  slots_ = nullptr;
  order_ = bits_ = 0;
  count_ = 0;
}

// ---- Entry chunks ----

IpcSpace::Chunk* IpcSpace::chunk_of(IpcEntry* e) {
  // Chunks are single pages of the direct map, so page aligned.
  return reinterpret_cast<Chunk*>(reinterpret_cast<uintptr_t>(e) & ~(kPageSize - 1));
}

IpcEntry* IpcSpace::entries_of(Chunk* c) {
  return reinterpret_cast<IpcEntry*>(reinterpret_cast<char*>(c) + kChunkHeader);
}

MICA_HOT IpcEntry* IpcSpace::take_entry() {
  Chunk* c = partial_chunks_.front();
  if (!c) {
    VmPage* page = vm_page_grab();
    if (!page) return nullptr;
    void* mem = vm_page_to_virt(page);
    c = new (mem) Chunk{};
    c->page = page;
    IpcEntry* first = entries_of(c);
    for (size_t i = kEntriesPerChunk; i-- > 0;) {
      first[i].space_bits = 0;
      first[i].object = c->free_list;
      c->free_list = &first[i];
    }
    all_chunks_.push_back(c);
    partial_chunks_.push_back(c);
    c->partial = true;
    ++empty_chunks_;
  }
  IpcEntry* e = c->free_list;
  c->free_list = static_cast<IpcEntry*>(e->object);
  if (c->used++ == 0) --empty_chunks_;
  if (!c->free_list) {
    partial_chunks_.remove(c);
    c->partial = false;
  }
  return e;
}

MICA_HOT void IpcSpace::put_entry(IpcEntry* e) {
  Chunk* c = chunk_of(e);
  kassert(c->used > 0);
  e->space_bits = 0;
  e->type = 0;
  e->object = c->free_list;
  c->free_list = e;
  if (!c->partial) {
    // Allocate next from the chunk that just had room: it is warm in the cache.
    partial_chunks_.push_front(c);
    c->partial = true;
  }
  if (--c->used == 0) {
    ++empty_chunks_;
    // One empty chunk is kept so that a space alternating alloc and free at a chunk
    // boundary does not take and return a page each time.
    if (empty_chunks_ > 1 && iterating_ == 0) release_chunk(c);
  }
}

void IpcSpace::release_chunk(Chunk* c) {
  kassert(c->used == 0 && c->partial);
  all_chunks_.remove(c);
  partial_chunks_.remove(c);
  --empty_chunks_;
  vm_page_release(c->page);
}

// ---- The space ----

void IpcSpace::destroy() {
  kassert(iterating_ == 0);
  by_name_.destroy();
  reverse_.destroy();
  while (Chunk* c = all_chunks_.pop_front()) vm_page_release(c->page);
  partial_chunks_.reset();
  empty_chunks_ = 0;
  next_name_ = 1;
}


MICA_HOT kern_return_t IpcSpace::alloc_at(mach_port_name_t name, IpcEntry** out) {
  if (!by_name_.reserve(by_name_.count() + 1)) return KERN_RESOURCE_SHORTAGE;
  IpcEntry* e = take_entry();
  if (!e) return KERN_RESOURCE_SHORTAGE;
  e->name = name;
  e->type = 0;
  e->urefs = 0;
  e->space_bits = kInUse;
  e->object = nullptr;
  e->request = 0;
  by_name_.insert(e);
  *out = e;
  return KERN_SUCCESS;
}

MICA_HOT kern_return_t IpcSpace::alloc(IpcEntry** out) {
  if (size() >= kMaxEntries) return KERN_NO_SPACE;
  // The counter moves past names in use; there are at most kMaxEntries of them, so the
  // loop ends. It skips MACH_PORT_NULL and MACH_PORT_DEAD when it wraps.
  mach_port_name_t name = next_name_;
  while (!MACH_PORT_NAME_VALID(name) || by_name_.find(name)) ++name;
  const kern_return_t kr = alloc_at(name, out);
  if (kr == KERN_SUCCESS) next_name_ = name + 1;
  return kr;
}

kern_return_t IpcSpace::alloc_name(mach_port_name_t name, IpcEntry** out) {
  if (!MACH_PORT_NAME_VALID(name)) return KERN_INVALID_VALUE;
  if (by_name_.find(name)) return KERN_NAME_EXISTS;
  if (size() >= kMaxEntries) return KERN_NO_SPACE;
  return alloc_at(name, out);
}

MICA_HOT void IpcSpace::free(IpcEntry* e) {
  kassert(e->space_bits & kInUse);
  if (in_reverse(e)) reverse_remove(e);
  by_name_.remove(e);
  put_entry(e);
  by_name_.shrink();
}

kern_return_t IpcSpace::rename(IpcEntry* e, mach_port_name_t new_name, IpcEntry** out) {
  kassert(e->space_bits & kInUse);
  if (!MACH_PORT_NAME_VALID(new_name)) return KERN_INVALID_VALUE;
  if (by_name_.find(new_name)) return KERN_NAME_EXISTS;
  // Same count, same table: the re-insertion always has room.
  by_name_.remove(e);
  e->name = new_name;
  by_name_.insert(e);
  *out = e;
  return KERN_SUCCESS;
}

IpcEntry* IpcSpace::reverse_lookup(const void* object) {
  if (!object) return nullptr;
  return reverse_.find(reinterpret_cast<uintptr_t>(object));
}

kern_return_t IpcSpace::reverse_insert(IpcEntry* e) {
  kassert((e->space_bits & kInUse) && !in_reverse(e) && e->object != nullptr);
  kassert(reverse_lookup(e->object) == nullptr);
  if (!reverse_.reserve(reverse_.count() + 1)) return KERN_RESOURCE_SHORTAGE;
  reverse_.insert(e);
  e->space_bits |= kInReverse;
  return KERN_SUCCESS;
}

void IpcSpace::reverse_remove(IpcEntry* e) {
  kassert(in_reverse(e));
  reverse_.remove(e);
  e->space_bits &= ~kInReverse;
  reverse_.shrink();
}

void IpcSpace::for_each_raw(void (*fn)(IpcEntry* e, void* ctx), void* ctx) {
  // Chunks stay put during the walk (release is deferred), and a chunk allocated meanwhile
  // goes to the tail of all_chunks_, where the walk may reach it.
  ++iterating_;
  for (Chunk* c : all_chunks_) {
    IpcEntry* first = entries_of(c);
    for (size_t i = 0; i < kEntriesPerChunk; ++i)
      if (first[i].space_bits & kInUse) fn(&first[i], ctx);
  }
  if (--iterating_ == 0) {
    // Release the chunks the walk emptied, keeping one spare.
    for (Chunk* c = all_chunks_.front(); c && empty_chunks_ > 1;) {
      Chunk* next = c->all_link.next ? all_chunks_.from_link(c->all_link.next) : nullptr;
      if (c->used == 0) release_chunk(c);
      c = next;
    }
  }
}

namespace {

// Restores the max-heap property of a[0..n) below index i.
void sift_down(mach_port_name_t* a, size_t n, size_t i) {
  for (;;) {
    size_t big = i;
    const size_t l = 2 * i + 1, r = l + 1;
    if (l < n && a[l] > a[big]) big = l;
    if (r < n && a[r] > a[big]) big = r;
    if (big == i) return;
    const mach_port_name_t t = a[i];
    a[i] = a[big];
    a[big] = t;
    i = big;
  }
}

}  // namespace

size_t IpcSpace::names(mach_port_name_t* out, size_t max) {
  // Keep the smallest `max` names in a max-heap in out[], then heap-sort it ascending:
  // O(n log max) time, no memory beyond out[].
  size_t k = 0;
  by_name_.each([&](IpcEntry* e) {
    const mach_port_name_t name = e->name;
    if (k < max) {
      size_t i = k++;
      out[i] = name;
      while (i > 0 && out[(i - 1) / 2] < out[i]) {
        const mach_port_name_t t = out[i];
        out[i] = out[(i - 1) / 2];
        out[(i - 1) / 2] = t;
        i = (i - 1) / 2;
      }
    } else if (max > 0 && name < out[0]) {
      out[0] = name;
      sift_down(out, k, 0);
    }
  });
  for (size_t end = k; end > 1; --end) {
    const mach_port_name_t t = out[0];
    out[0] = out[end - 1];
    out[end - 1] = t;
    sift_down(out, end - 1, 0);
  }
  return size();
}

size_t IpcSpace::table_pages() const {
  return all_chunks_.size() + by_name_.pages() + reverse_.pages();
}
