// Virtio 1.x over PCI (the "modern" transport of the virtio spec, 4.1): the common, notify
// and device configuration structures that the vendor capabilities point at, MSI-X for
// interrupts, and split virtqueues (2.6). What one device driver needs, nothing more: one
// queue per device is set up, indirect descriptors and event suppression are not used.
//
// Everything the device reads or writes (rings, request headers, data) is physical memory
// from the page allocator, reached by the kernel through the direct map; the device sees the
// physical addresses (no IOMMU: VIRTIO_F_ACCESS_PLATFORM is not negotiated).
//
// Locking: a VirtioPci is set up once at boot by one thread. A Virtqueue has no lock of its
// own; its driver guards it (virtio_blk.h).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "device/pci.h"
#include "machine/memory.h"

inline constexpr uint16_t kVirtioVendor = 0x1af4;
inline constexpr uint64_t kVirtioFVersion1 = 1ull << 32;

// Device status bits (2.1).
inline constexpr uint8_t kVirtioStatusAcknowledge = 1;
inline constexpr uint8_t kVirtioStatusDriver = 2;
inline constexpr uint8_t kVirtioStatusDriverOk = 4;
inline constexpr uint8_t kVirtioStatusFeaturesOk = 8;
inline constexpr uint8_t kVirtioStatusFailed = 128;

// One device's transport: the configuration structures found through its capabilities.
class VirtioPci {
 public:
  // Finds the common, notify and device configuration structures and the MSI-X table, turns
  // on memory decoding and bus mastering, and resets the device. false (with a console line)
  // if some structure is missing or lies where the direct map does not reach.
  bool attach(const PciDevice& pci);

  // Feature negotiation (3.1.1 steps 1-6): reset, ACKNOWLEDGE, DRIVER, then offers the
  // intersection of the device's features and `wanted`, which must include VERSION_1. Returns
  // the negotiated set, or 0 if the device refused it (the device is then marked FAILED).
  uint64_t negotiate(uint64_t wanted);

  // Points MSI-X table entry `entry` at `vector` of the boot CPU's local APIC and enables
  // MSI-X. false if the device has no such entry.
  bool msix_route(uint16_t entry, uint8_t vector);

  // Queue set-up (4.1.5.1.3): the device's maximum size for queue `index` (0: no such queue).
  uint16_t queue_max_size(uint16_t index);
  // Gives the device queue `index` of `size` entries at the given physical addresses, raising
  // MSI-X entry `msix_entry` (0xffff: none). Returns false if the device refused the vector.
  bool queue_enable(uint16_t index, uint16_t size, paddr_t desc, paddr_t driver, paddr_t device,
                    uint16_t msix_entry);
  // Where the driver writes the queue's index to notify the device of new buffers.
  volatile uint16_t* queue_notify_address(uint16_t index);

  // DRIVER_OK: the device is live (3.1.1 step 8).
  void driver_ok();
  // Marks the device FAILED: it is left alone from then on.
  void fail();

  // Device-specific configuration space, read with the generation check of 4.1.4.3.
  uint32_t config_read32(uint32_t offset);
  uint64_t config_read64(uint32_t offset);

 private:
  uint8_t common8(uint32_t off);
  uint16_t common16(uint32_t off);
  uint32_t common32(uint32_t off);
  void set_common8(uint32_t off, uint8_t v);
  void set_common16(uint32_t off, uint16_t v);
  void set_common32(uint32_t off, uint32_t v);

  const PciDevice* pci_ = nullptr;
  volatile uint8_t* common_ = nullptr;
  volatile uint8_t* notify_ = nullptr;
  uint32_t notify_multiplier_ = 0;
  uint64_t notify_length_ = 0;
  volatile uint8_t* device_ = nullptr;
  uint32_t device_length_ = 0;
  uint8_t msix_cap_ = 0;
  volatile uint32_t* msix_table_ = nullptr;
  uint16_t msix_entries_ = 0;
};

// One segment of a buffer chain: physical memory the device reads (device_writes false) or
// fills (true).
struct VirtqSegment {
  paddr_t addr;
  uint32_t len;
  bool device_writes;
};

// A split virtqueue (2.6) in memory the queue allocates for itself. The caller serializes all
// calls (the driver's lock).
class Virtqueue {
 public:
  // Allocates the rings for `size` entries (a power of 2) and hands them to the device as
  // queue `index`, interrupting through MSI-X entry `msix_entry`. false on shortage or if the
  // device refuses.
  bool init(VirtioPci& dev, uint16_t index, uint16_t size, uint16_t msix_entry);

  uint16_t size() const { return size_; }
  unsigned free_descriptors() const { return free_count_; }

  // Chains segs[0..n) into free descriptors and makes the chain available to the device;
  // *head identifies it when it is used. The caller has checked free_descriptors() >= n > 0.
  void add(const VirtqSegment* segs, unsigned n, uint16_t* head);
  // Tells the device about the chains added since the last kick, unless it asked not to be.
  void kick();
  // The next chain the device has finished with: its head and the bytes it wrote. Its
  // descriptors are free again. false when there is none.
  bool pop_used(uint16_t* head, uint32_t* written);

 private:
  struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
  };
  struct UsedElem {
    uint32_t id;
    uint32_t len;
  };
  static_assert(sizeof(Desc) == 16 && sizeof(UsedElem) == 8);

  volatile Desc* desc_ = nullptr;
  volatile uint16_t* avail_ = nullptr;  // flags, idx, ring[size], used_event
  volatile uint16_t* used_ = nullptr;   // flags, idx, then UsedElem ring[size] at +4
  volatile uint16_t* notify_ = nullptr;
  uint16_t index_ = 0;
  uint16_t size_ = 0;
  uint16_t free_head_ = 0;
  uint16_t free_count_ = 0;
  uint16_t avail_idx_ = 0;   // our copy of avail->idx
  uint16_t last_used_ = 0;   // used ring entries consumed so far
};
