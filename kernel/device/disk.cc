// The disks' data path: map copies to and from the driver's DMA segments.
#include "device/disk.h"

#include <device/device_types.h>

#include "device/virtio_blk.h"
#include "kern/lock.h"
#include "kern/log.h"
#include "kern/sched.h"
#include "lib/format.h"
#include "lib/string.h"
#include "vm/vm_map.h"
#include "vm/vm_object.h"
#include "vm/vm_page.h"
#include "vm/vm_resident.h"

struct Disk {
  VirtioBlk* blk = nullptr;
  char name[8] = {};
  // The write gate: whole-record writes share it, a read-modify-write has it alone. New
  // writes wait behind a waiting read-modify-write, so that a stream of writes cannot starve
  // it.
  SpinLock gate_lock;
  unsigned writers = 0;      // guarded by gate_lock
  unsigned rmw_waiting = 0;  // guarded by gate_lock
  bool rmw = false;          // guarded by gate_lock
};

namespace {

constexpr unsigned kMaxDisks = kMaxVirtioBlk;
static_assert(kPageSize % kDiskRecordSize == 0, "a page holds whole records");

constinit Disk disks[kMaxDisks];
unsigned disk_count;

// --- The write gate ---

void gate_enter(Disk* d, bool exclusive) {
  IrqState irq = arch_irq_disable();
  d->gate_lock.lock();
  if (exclusive) ++d->rmw_waiting;
  while (d->rmw || (exclusive ? d->writers > 0 : d->rmw_waiting > 0)) {
    assert_wait(&d->gate_lock);
    d->gate_lock.unlock();
    thread_block();
    d->gate_lock.lock();
  }
  if (exclusive) {
    --d->rmw_waiting;
    d->rmw = true;
  } else {
    ++d->writers;
  }
  d->gate_lock.unlock();
  arch_irq_restore(irq);
}

void gate_leave(Disk* d, bool exclusive) {
  IrqSpinGuard g(d->gate_lock);
  if (exclusive)
    d->rmw = false;
  else
    --d->writers;
  thread_wakeup(&d->gate_lock);
}

// An empty map copy with its one entry to come: vm_map_copy_from_kernel of no data is the
// VM's way to hand out a copy (from its zone, counted) without data pages.
VmMapCopy* empty_copy() { return vm_map_copy_from_kernel(nullptr, 0); }

}  // namespace

void disk_init() {
  for (unsigned unit = 0; disk_count < kMaxDisks; ++unit) {
    VirtioBlk* blk = virtio_blk_unit(unit);
    if (!blk) break;
    Disk& d = disks[disk_count++];
    d.blk = blk;
    snprintf_k(d.name, sizeof d.name, "vd%u", unit);
    klog("device %s: virtio-blk, %lu records of %u bytes%s", d.name, blk->sectors(),
         kDiskRecordSize, blk->read_only() ? ", read-only" : "");
  }
}

Disk* disk_lookup(const char* name) {
  for (unsigned i = 0; i < disk_count; ++i)
    if (!strcmp(disks[i].name, name)) return &disks[i];
  return nullptr;
}

const char* disk_name(const Disk* disk) { return disk->name; }
uint64_t disk_records(const Disk* disk) { return disk->blk->sectors(); }
bool disk_read_only(const Disk* disk) { return disk->blk->read_only(); }

int disk_read(Disk* disk, uint64_t recnum, uint64_t bytes, VmMapCopy** data) {
  kassert(bytes > 0 && bytes % kDiskRecordSize == 0);
  vm_size_t size = round_page(bytes);
  VmMapCopy* copy = empty_copy();
  VmMapEntry* entry = copy ? vm_map_entry_alloc() : nullptr;
  VmObject* object = entry ? vm_object_allocate(size) : nullptr;
  if (!object) {
    if (entry) vm_map_entry_free(entry);
    vm_map_copy_discard(copy);
    return D_NO_MEMORY;
  }
  // From here on the object goes with the copy, and discarding the copy frees everything.
  entry->start = 0;
  entry->end = size;
  entry->object = object;
  entry->offset = 0;
  copy->size = bytes;
  copy->entries.insert_after(nullptr, entry);

  DmaSegment segs[VirtioBlk::kMaxSegments];
  unsigned max = disk->blk->max_segments();
  for (uint64_t off = 0; off < bytes;) {
    unsigned n = 0;
    uint64_t chunk = 0;
    {
      // The pages are wired while the device fills them, so that nothing (pageout) takes
      // them meanwhile; no one else knows the object yet.
      IrqSpinGuard g(object->lock);
      for (; n < max && off + chunk < bytes; ++n) {
        VmPage* page = vm_page_alloc_for(object, off + chunk);
        if (!page) break;
        vm_page_wire(page);
        uint64_t len = bytes - (off + chunk) < kPageSize ? bytes - (off + chunk) : kPageSize;
        if (len < kPageSize)
          memset(static_cast<uint8_t*>(vm_page_to_virt(page)) + len, 0, kPageSize - len);
        segs[n] = DmaSegment{vm_page_to_phys(page), static_cast<uint32_t>(len)};
        chunk += len;
      }
    }
    int rc = n ? disk->blk->transfer(false, recnum + off / kDiskRecordSize, segs, n) : D_NO_MEMORY;
    {
      IrqSpinGuard g(object->lock);
      for (unsigned i = 0; i < n; ++i) vm_page_unwire(vm_page_lookup(object, off + i * kPageSize));
    }
    if (rc == D_SUCCESS && off + chunk < bytes && n < max) rc = D_NO_MEMORY;  // ran short
    if (rc != D_SUCCESS) {
      vm_map_copy_discard(copy);
      return rc;
    }
    off += chunk;
  }
  *data = copy;
  return D_SUCCESS;
}

int disk_write(Disk* disk, uint64_t recnum, VmMapCopy* data, uint64_t bytes) {
  kassert(bytes > 0 && bytes % kDiskRecordSize == 0 && bytes <= data->size);
  unsigned max = disk->blk->max_segments();
  uint64_t pages = round_page(bytes) / kPageSize;
  unsigned n_bounce = pages < max ? static_cast<unsigned>(pages) : max;
  VmPage* bounce[VirtioBlk::kMaxSegments];
  for (unsigned i = 0; i < n_bounce; ++i) {
    bounce[i] = vm_page_grab();
    if (!bounce[i]) {
      while (i > 0) vm_page_release(bounce[--i]);
      return D_NO_MEMORY;
    }
  }
  DmaSegment segs[VirtioBlk::kMaxSegments];
  int rc = D_SUCCESS;
  gate_enter(disk, false);
  for (uint64_t off = 0; off < bytes && rc == D_SUCCESS;) {
    unsigned n = 0;
    uint64_t chunk = 0;
    for (; n < n_bounce && off + chunk < bytes; ++n) {
      uint64_t len = bytes - (off + chunk) < kPageSize ? bytes - (off + chunk) : kPageSize;
      vm_map_copy_read(data, off + chunk, vm_page_to_virt(bounce[n]), len);
      segs[n] = DmaSegment{vm_page_to_phys(bounce[n]), static_cast<uint32_t>(len)};
      chunk += len;
    }
    rc = disk->blk->transfer(true, recnum + off / kDiskRecordSize, segs, n);
    off += chunk;
  }
  gate_leave(disk, false);
  for (unsigned i = 0; i < n_bounce; ++i) vm_page_release(bounce[i]);
  return rc;
}

int disk_read_partial(Disk* disk, uint64_t recnum, void* buf, uint32_t len) {
  kassert(len <= kDiskRecordSize);
  VmPage* page = vm_page_grab();
  if (!page) return D_NO_MEMORY;
  DmaSegment seg{vm_page_to_phys(page), kDiskRecordSize};
  int rc = disk->blk->transfer(false, recnum, &seg, 1);
  if (rc == D_SUCCESS) memcpy(buf, vm_page_to_virt(page), len);
  vm_page_release(page);
  return rc;
}

int disk_write_partial(Disk* disk, uint64_t recnum, const void* buf, uint32_t len) {
  kassert(len <= kDiskRecordSize);
  VmPage* page = vm_page_grab();
  if (!page) return D_NO_MEMORY;
  DmaSegment seg{vm_page_to_phys(page), kDiskRecordSize};
  gate_enter(disk, true);
  int rc = disk->blk->transfer(false, recnum, &seg, 1);
  if (rc == D_SUCCESS) {
    memcpy(vm_page_to_virt(page), buf, len);
    rc = disk->blk->transfer(true, recnum, &seg, 1);
  }
  gate_leave(disk, true);
  vm_page_release(page);
  return rc;
}
