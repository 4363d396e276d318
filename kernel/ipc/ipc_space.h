// A task's port name space (Mach's ipc_space / ipc_entry): the table that maps the 32-bit
// names user code holds to entries saying which rights the name denotes. It knows nothing of
// port semantics (ipc_right.cc does); it only allocates names and entries and finds them.
//
// Layout. Entries live in chunks of one page each and never move, so an IpcEntry* stays
// valid until that entry is freed or the space destroyed (see "Pointer validity" below).
// Two open-addressing hash tables of entry pointers, in page-allocated arrays that double
// when half full and halve when an eighth full, index the entries by name and, for the
// entries the caller registers, by object (the reverse map).
//
// Names. A fresh name comes from a counter that starts at 1 (so a task's first names are
// 1, 2, 3... as with GNU Mach) and skips names in use, MACH_PORT_NULL and MACH_PORT_DEAD.
// A freed name therefore comes back only after the counter wraps, some 4 billion
// allocations later, so a stale name held by user code does not alias a new right.
//
// Pointer validity. An IpcEntry* returned by lookup, alloc, alloc_name, rename or
// reverse_lookup stays valid, at the same address, until free() of that entry or
// destroy(). No other call moves or invalidates it: growing or shrinking the hash tables
// moves only the tables, and rename keeps the entry where it is (*out == e).
//
// Memory: pages from vm_page_alloc, charged to the space (table_pages()). Every call that
// may allocate can fail with KERN_RESOURCE_SHORTAGE and then leaves the space unchanged.
//
// Locking: none inside. The caller holds the IPC lock that guards the space.
#pragma once
#include <mach/kern_return.h>
#include <mach/port.h>
#include <stddef.h>
#include <stdint.h>

#include "kern/queue.h"
#include "machine/memory.h"

struct VmPage;

struct IpcEntry {
  mach_port_name_t name;  // the name this entry is at (set by the space)
  uint32_t type;          // MACH_PORT_TYPE_* bits; 0 in a fresh entry
  uint32_t urefs;         // user references (send / dead-name rights), at most kMaxUrefs
  uint32_t space_bits;    // the space's own bookkeeping: callers must not touch it
  void* object;           // Port* or PortSet* (opaque here); nullptr for dead names
  uint32_t request;       // dead-name request index (opaque here; 0 = none)

  // Mach's MACH_PORT_UREFS_MAX (GNU Mach's kernel value; the user headers omit it).
  static constexpr uint32_t kMaxUrefs = 0xffff;
};

class IpcSpace {
 public:
  constexpr IpcSpace() = default;
  IpcSpace(const IpcSpace&) = delete;
  IpcSpace& operator=(const IpcSpace&) = delete;

  static constexpr size_t kMaxEntries = 65536;

  // Frees all table memory and leaves the space empty, as freshly constructed. The caller
  // must have released every entry's object first; entries still in use are simply dropped.
  void destroy();

  // The entry at `name`, or nullptr (MACH_PORT_NULL, MACH_PORT_DEAD and unknown names).
  // Inline: every message looks names up.
  IpcEntry* lookup(mach_port_name_t name) {
    if (!MACH_PORT_NAME_VALID(name)) return nullptr;
    return by_name_.find(name);
  }

  // A new entry at a fresh name chosen by the space, with type, urefs, object and request
  // zero. Returns KERN_SUCCESS and *out; KERN_NO_SPACE when kMaxEntries are in use;
  // KERN_RESOURCE_SHORTAGE when no page is free.
  kern_return_t alloc(IpcEntry** out);

  // A new entry at the caller's `name`, initialized as by alloc(). KERN_INVALID_VALUE for
  // MACH_PORT_NULL / MACH_PORT_DEAD, KERN_NAME_EXISTS if the name is in use, else as alloc().
  kern_return_t alloc_name(mach_port_name_t name, IpcEntry** out);

  // Frees entry `e` (in use in this space), and its reverse mapping if it has one. Its name
  // becomes free but is not handed out again by alloc() until the name counter wraps.
  void free(IpcEntry* e);

  // Moves entry `e` to `new_name` (mach_port_rename); its contents and reverse mapping
  // stay. KERN_INVALID_VALUE for MACH_PORT_NULL / MACH_PORT_DEAD, KERN_NAME_EXISTS if
  // `new_name` is in use (even by `e`). On success *out is the entry, which is `e` itself.
  // Never allocates.
  kern_return_t rename(IpcEntry* e, mach_port_name_t new_name, IpcEntry** out);

  // Reverse map object -> entry, so that a task holds one name per port for its send and
  // receive rights. At most one entry per object.
  // The entry registered for `object`, or nullptr (always nullptr for nullptr).
  IpcEntry* reverse_lookup(const void* object);
  // Registers `e` under e->object, which must be non-null and have no entry registered
  // (kassert), and `e` must not be registered already. KERN_RESOURCE_SHORTAGE when the
  // reverse table cannot grow. While registered, e->object must not change.
  kern_return_t reverse_insert(IpcEntry* e);
  // Unregisters `e`, which must be registered (kassert).
  void reverse_remove(IpcEntry* e);
  // Whether `e` is registered in the reverse map.
  static bool in_reverse(const IpcEntry* e) { return (e->space_bits & kInReverse) != 0; }

  // Entries in use.
  size_t size() const { return by_name_.count(); }

  // Calls f(IpcEntry*) once for every entry in use when the call starts, in no particular
  // order. f may free the entry it is given, or any other (an entry freed before its turn
  // is skipped). f may allocate, but whether the new entries are visited is unspecified.
  template <class F>
  void for_each(F&& f) {
    auto* fp = &f;
    using FP = decltype(fp);
    for_each_raw([](IpcEntry* e, void* ctx) { (*static_cast<FP>(ctx))(e); },
                 const_cast<void*>(static_cast<const volatile void*>(fp)));
  }
  void for_each_raw(void (*fn)(IpcEntry* e, void* ctx), void* ctx);

  // The names in use in ascending order (mach_port_names): writes the smallest min(max,
  // size()) of them to out[] and returns size(). Never allocates.
  size_t names(mach_port_name_t* out, size_t max);

  // Pages the space holds: entry chunks and both hash tables.
  size_t table_pages() const;

 private:
  static constexpr uint32_t kInUse = 1u << 0;
  static constexpr uint32_t kInReverse = 1u << 1;

  // A page of entries. The header sits at the start of the page and the entries follow.
  struct Chunk {
    QueueLink all_link;      // on all_chunks_
    QueueLink partial_link;  // on partial_chunks_ while it has a free entry
    IpcEntry* free_list;     // free entries, linked through their `object`
    VmPage* page;
    uint32_t used;  // entries in use
    bool partial;   // on partial_chunks_
  };
  static constexpr size_t kChunkHeader = (sizeof(Chunk) + 31) & ~size_t{31};
  static constexpr size_t kEntriesPerChunk = (kPageSize - kChunkHeader) / sizeof(IpcEntry);

  // An open-addressing (linear probing) hash table of entry pointers keyed by the entry's
  // name or by its object. Empty slots are nullptr; deletion shifts entries back, so there
  // are no tombstones.
  class EntryTable {
   public:
    constexpr explicit EntryTable(bool by_object) : by_object_(by_object) {}
    IpcEntry* find(uint64_t key) const {
      if (!slots_) return nullptr;
      const size_t mask = capacity() - 1;
      for (size_t i = home(key);; i = (i + 1) & mask) {
        IpcEntry* e = slots_[i];
        if (!e) return nullptr;
        if (key_of(e) == key) return e;
      }
    }
    // Makes room for `n` entries in all; false if memory is short.
    bool reserve(size_t n);
    void insert(IpcEntry* e);  // room reserved, key not present
    void remove(IpcEntry* e);  // present
    // Halves the table while it is at most an eighth full; best effort.
    void shrink();
    void destroy();
    size_t count() const { return count_; }
    size_t pages() const { return slots_ ? size_t{1} << order_ : 0; }
    // Calls fn(e) for each entry; fn must not change the table.
    template <class Fn>
    void each(Fn&& fn) const {
      for (size_t i = 0; i < capacity(); ++i)
        if (slots_[i]) fn(slots_[i]);
    }

   private:
    uint64_t key_of(const IpcEntry* e) const {
      return by_object_ ? reinterpret_cast<uintptr_t>(e->object) : e->name;
    }
    // Fibonacci hashing: the high bits of the product mix every bit of the key, so
    // sequential names and aligned object addresses both spread over the table.
    size_t home(uint64_t key) const {
      return static_cast<size_t>((key * 0x9e3779b97f4a7c15ull) >> (64 - bits_));
    }
    size_t capacity() const { return slots_ ? (kPageSize << order_) / sizeof(void*) : 0; }
    bool resize(unsigned order);

    bool by_object_;
    VmPage* page_ = nullptr;
    IpcEntry** slots_ = nullptr;
    unsigned order_ = 0;  // the array is 2^order_ pages
    unsigned bits_ = 0;   // log2(capacity)
    size_t count_ = 0;
  };

  // Takes an entry from a chunk with a free one, or from a new chunk. nullptr if no page.
  IpcEntry* take_entry();
  // Gives `e` back to its chunk; frees the chunk when it empties, keeping one spare.
  void put_entry(IpcEntry* e);
  void release_chunk(Chunk* c);
  static Chunk* chunk_of(IpcEntry* e);
  static IpcEntry* entries_of(Chunk* c);
  // Common tail of alloc and alloc_name: `name` valid and free.
  kern_return_t alloc_at(mach_port_name_t name, IpcEntry** out);

  EntryTable by_name_{false};
  EntryTable reverse_{true};
  IntrusiveList<Chunk, &Chunk::all_link> all_chunks_;
  IntrusiveList<Chunk, &Chunk::partial_link> partial_chunks_;
  size_t empty_chunks_ = 0;         // chunks with no entry in use
  unsigned iterating_ = 0;          // for_each depth: chunks are not freed meanwhile
  mach_port_name_t next_name_ = 1;  // where alloc() looks for a fresh name
};
