// The virtio-blk driver (virtio spec 5.2) for QEMU's virtio-blk-pci, over the virtio 1.x PCI
// transport (virtio.h). One request queue; each request is a chain of a 16-byte header the
// device reads, the data segments, and a status byte the device writes. The requesting
// thread sleeps until the device's MSI-X interrupt reports the chain used; several requests
// from several threads may be in the queue at once.
//
// Locking: VirtioBlk::lock_ (a spin lock, interrupts off; also taken by the interrupt
// handler) guards the queue and the request slots. It comes after the VM locks and before the
// wait-queue buckets in the kernel's lock order (docs/design.md): completion wakes threads
// while holding it.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "device/virtio.h"
#include "kern/lock.h"
#include "machine/memory.h"

// A piece of physical memory one transfer reads into or writes from.
struct DmaSegment {
  paddr_t addr;
  uint32_t len;
};

class VirtioBlk {
 public:
  // The most data segments one transfer takes (the device's seg_max may lower it).
  static constexpr unsigned kMaxSegments = 64;

  constexpr VirtioBlk() = default;
  VirtioBlk(const VirtioBlk&) = delete;
  VirtioBlk& operator=(const VirtioBlk&) = delete;

  // Brings up the device at `pci` (boot, on the boot CPU). false, with a console line, if it
  // cannot be used.
  bool attach(const PciDevice& pci);

  // Capacity in 512-byte sectors, whatever the device's logical block size (5.2.4).
  uint64_t sectors() const { return sectors_; }
  bool read_only() const { return read_only_; }
  unsigned max_segments() const { return max_segments_; }

  // Reads into (write false) or writes from segs[0..n), 0 < n <= max_segments(), the data at
  // `sector`; the segments' lengths add up to a multiple of 512 bytes that the caller has
  // checked lies inside the disk. Blocks the calling thread until the device is done; the
  // memory must stay put until then. No lock may be held. Returns D_SUCCESS, or D_IO_ERROR
  // when the device reports a failure.
  int transfer(bool write, uint64_t sector, const DmaSegment* segs, unsigned n);

 private:
  static constexpr unsigned kSlots = 32;        // requests in the queue at once
  static constexpr unsigned kSlotBytes = 32;    // header (16) and status (1), in dma_
  static constexpr uint16_t kMaxQueueSize = 256;

  struct Slot {
    bool busy = false;
    bool done = false;
    uint8_t status = 0;
  };

  static void interrupt(void* self);
  // Takes every used chain off the queue and wakes the threads whose requests they were.
  void reap_locked();

  SpinLock lock_;
  VirtioPci transport_;
  Virtqueue queue_;
  bool msix_ = false;
  bool read_only_ = false;
  uint64_t sectors_ = 0;
  unsigned max_segments_ = 0;
  uint8_t* dma_ = nullptr;  // kSlots headers and status bytes, one page
  paddr_t dma_phys_ = 0;
  Slot slots_[kSlots];
  uint8_t head_slot_[kMaxQueueSize] = {};  // the slot of each chain, by its head descriptor
};

inline constexpr unsigned kMaxVirtioBlk = 4;

// Finds and attaches every virtio-blk function on the PCI bus (boot, after pci_init):
// transitional devices (QEMU's default) first, then modern-only ones, each in bus order.
// Returns how many are usable.
unsigned virtio_blk_probe();

// The `unit`th usable virtio-blk device, or nullptr.
VirtioBlk* virtio_blk_unit(unsigned unit);
