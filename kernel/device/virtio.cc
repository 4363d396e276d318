// Virtio 1.x PCI transport and split virtqueues (virtio spec 4.1 and 2.6).
#include "device/virtio.h"

#include "arch/x86_64/apic.h"
#include "machine/cpu.h"
#include "kern/log.h"
#include "lib/string.h"
#include "vm/vm_page.h"

namespace {

// virtio_pci_cap (4.1.4): cfg_type values and field offsets inside the capability.
constexpr uint8_t kCapCommon = 1, kCapNotify = 2, kCapDevice = 4;
constexpr uint8_t kCapType = 3, kCapBar = 4, kCapOffset = 8, kCapLength = 12,
                  kCapNotifyMultiplier = 16;

// virtio_pci_common_cfg (4.1.4.3).
constexpr uint32_t kDeviceFeatureSelect = 0x00, kDeviceFeature = 0x04,
                   kDriverFeatureSelect = 0x08, kDriverFeature = 0x0c, kMsixConfig = 0x10,
                   kDeviceStatus = 0x14, kConfigGeneration = 0x15, kQueueSelect = 0x16,
                   kQueueSize = 0x18, kQueueMsixVector = 0x1a, kQueueEnable = 0x1c,
                   kQueueNotifyOff = 0x1e, kQueueDesc = 0x20, kQueueDriver = 0x28,
                   kQueueDevice = 0x30, kCommonLength = 0x38;
constexpr uint16_t kNoVector = 0xffff;

// MSI-X capability (PCI 3.0, 6.8.2): message control and the table's BAR and offset.
constexpr uint8_t kMsixControl = 2, kMsixTable = 4;
constexpr uint16_t kMsixEnable = 1u << 15, kMsixFunctionMask = 1u << 14;

// Split virtqueue descriptor flags and the used ring's "no notify" flag (2.6.5, 2.6.8).
constexpr uint16_t kDescNext = 1, kDescWrite = 2;
constexpr uint16_t kUsedNoNotify = 1;

void full_barrier() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

}  // namespace

// --- Transport --------------------------------------------------------------------------

uint8_t VirtioPci::common8(uint32_t off) { return common_[off]; }
uint16_t VirtioPci::common16(uint32_t off) {
  return *reinterpret_cast<volatile uint16_t*>(common_ + off);
}
uint32_t VirtioPci::common32(uint32_t off) {
  return *reinterpret_cast<volatile uint32_t*>(common_ + off);
}
void VirtioPci::set_common8(uint32_t off, uint8_t v) { common_[off] = v; }
void VirtioPci::set_common16(uint32_t off, uint16_t v) {
  *reinterpret_cast<volatile uint16_t*>(common_ + off) = v;
}
void VirtioPci::set_common32(uint32_t off, uint32_t v) {
  *reinterpret_cast<volatile uint32_t*>(common_ + off) = v;
}

bool VirtioPci::attach(const PciDevice& pci) {
  pci_ = &pci;
  // The first capability of each type that the driver can use wins (4.1.4).
  for (uint8_t cap = pci_find_capability(pci, kPciCapVendor); cap;
       cap = pci_find_capability(pci, kPciCapVendor, cap)) {
    uint8_t type = pci_read8(pci, cap + kCapType);
    uint8_t bar = pci_read8(pci, cap + kCapBar);
    uint32_t offset = pci_read32(pci, cap + kCapOffset);
    uint32_t length = pci_read32(pci, cap + kCapLength);
    volatile void* at = pci_bar_map(pci, bar, offset, length);
    if (!at) continue;
    auto* p = static_cast<volatile uint8_t*>(at);
    if (type == kCapCommon && !common_ && length >= kCommonLength) {
      common_ = p;
    } else if (type == kCapNotify && !notify_) {
      notify_ = p;
      notify_length_ = length;
      notify_multiplier_ = pci_read32(pci, cap + kCapNotifyMultiplier);
    } else if (type == kCapDevice && !device_) {
      device_ = p;
      device_length_ = length;
    }
  }
  if (!common_ || !notify_ || !device_) {
    klog("virtio %02x:%02x.%x: no usable virtio 1.x configuration (legacy-only device, or its "
         "BAR lies beyond the direct map)", pci.bus, pci.slot, pci.function);
    return false;
  }
  if (uint8_t cap = pci_find_capability(pci, kPciCapMsix)) {
    uint32_t table = pci_read32(pci, cap + kMsixTable);
    uint16_t entries = static_cast<uint16_t>((pci_read16(pci, cap + kMsixControl) & 0x7ff) + 1);
    volatile void* at = pci_bar_map(pci, table & 7, table & ~7u, uint64_t{entries} * 16);
    if (at) {
      msix_cap_ = cap;
      msix_table_ = static_cast<volatile uint32_t*>(at);
      msix_entries_ = entries;
    }
  }
  pci_enable(pci);
  return true;
}

uint64_t VirtioPci::negotiate(uint64_t wanted) {
  // Reset, then wait for the device to show it (4.1.4.3.2).
  set_common8(kDeviceStatus, 0);
  while (common8(kDeviceStatus) != 0) arch_cpu_relax();
  set_common8(kDeviceStatus, kVirtioStatusAcknowledge);
  set_common8(kDeviceStatus, kVirtioStatusAcknowledge | kVirtioStatusDriver);
  set_common32(kDeviceFeatureSelect, 0);
  uint64_t offered = common32(kDeviceFeature);
  set_common32(kDeviceFeatureSelect, 1);
  offered |= uint64_t{common32(kDeviceFeature)} << 32;
  uint64_t features = offered & wanted;
  if (!(features & kVirtioFVersion1)) {
    fail();
    return 0;
  }
  set_common32(kDriverFeatureSelect, 0);
  set_common32(kDriverFeature, static_cast<uint32_t>(features));
  set_common32(kDriverFeatureSelect, 1);
  set_common32(kDriverFeature, static_cast<uint32_t>(features >> 32));
  uint8_t status = kVirtioStatusAcknowledge | kVirtioStatusDriver | kVirtioStatusFeaturesOk;
  set_common8(kDeviceStatus, status);
  if (!(common8(kDeviceStatus) & kVirtioStatusFeaturesOk)) {
    fail();
    return 0;
  }
  // Configuration changes (a resized disk) are not followed: no vector for them.
  set_common16(kMsixConfig, kNoVector);
  return features;
}

bool VirtioPci::msix_route(uint16_t entry, uint8_t vector) {
  if (!msix_table_ || entry >= msix_entries_) return false;
  uint16_t control = pci_read16(*pci_, msix_cap_ + kMsixControl);
  pci_write16(*pci_, msix_cap_ + kMsixControl, control | kMsixEnable | kMsixFunctionMask);
  // Fixed delivery, edge triggered, physical destination: the boot CPU (device_init runs on
  // it), whose local APIC id is in bits 12-19 of the address (Intel SDM 10.11).
  volatile uint32_t* e = msix_table_ + 4u * entry;
  e[0] = 0xfee00000u | (apic_id() << 12);
  e[1] = 0;
  e[2] = vector;
  e[3] = 0;  // unmasked
  pci_write16(*pci_, msix_cap_ + kMsixControl,
              static_cast<uint16_t>((control | kMsixEnable) & ~kMsixFunctionMask));
  return true;
}

uint16_t VirtioPci::queue_max_size(uint16_t index) {
  set_common16(kQueueSelect, index);
  return common16(kQueueSize);
}

bool VirtioPci::queue_enable(uint16_t index, uint16_t size, paddr_t desc, paddr_t driver,
                             paddr_t device, uint16_t msix_entry) {
  set_common16(kQueueSelect, index);
  set_common16(kQueueSize, size);
  set_common16(kQueueMsixVector, msix_entry);
  // The device answers NO_VECTOR when it could not take the vector (4.1.5.1.2).
  if (common16(kQueueMsixVector) != msix_entry) return false;
  // 64-bit fields as two 32-bit halves, which the spec allows (4.1.3.1).
  set_common32(kQueueDesc, static_cast<uint32_t>(desc));
  set_common32(kQueueDesc + 4, static_cast<uint32_t>(desc >> 32));
  set_common32(kQueueDriver, static_cast<uint32_t>(driver));
  set_common32(kQueueDriver + 4, static_cast<uint32_t>(driver >> 32));
  set_common32(kQueueDevice, static_cast<uint32_t>(device));
  set_common32(kQueueDevice + 4, static_cast<uint32_t>(device >> 32));
  set_common16(kQueueEnable, 1);
  return true;
}

volatile uint16_t* VirtioPci::queue_notify_address(uint16_t index) {
  set_common16(kQueueSelect, index);
  uint64_t off = uint64_t{common16(kQueueNotifyOff)} * notify_multiplier_;
  if (off + 2 > notify_length_) return nullptr;
  return reinterpret_cast<volatile uint16_t*>(notify_ + off);
}

void VirtioPci::driver_ok() {
  set_common8(kDeviceStatus, common8(kDeviceStatus) | kVirtioStatusDriverOk);
}

void VirtioPci::fail() { set_common8(kDeviceStatus, common8(kDeviceStatus) | kVirtioStatusFailed); }

uint32_t VirtioPci::config_read32(uint32_t offset) {
  if (offset + 4 > device_length_) return 0;
  uint8_t gen;
  uint32_t v;
  do {
    gen = common8(kConfigGeneration);
    v = *reinterpret_cast<volatile uint32_t*>(device_ + offset);
  } while (gen != common8(kConfigGeneration));
  return v;
}

uint64_t VirtioPci::config_read64(uint32_t offset) {
  if (offset + 8 > device_length_) return 0;
  uint8_t gen;
  uint64_t v;
  do {
    gen = common8(kConfigGeneration);
    v = *reinterpret_cast<volatile uint32_t*>(device_ + offset);
    v |= uint64_t{*reinterpret_cast<volatile uint32_t*>(device_ + offset + 4)} << 32;
  } while (gen != common8(kConfigGeneration));
  return v;
}

// --- Split virtqueue --------------------------------------------------------------------

bool Virtqueue::init(VirtioPci& dev, uint16_t index, uint16_t size, uint16_t msix_entry) {
  // One block: descriptors (16-byte aligned), then the available ring (2), then the used
  // ring (4); 2.6: alignment requirements of the split virtqueue parts.
  size_t desc_bytes = 16u * size;
  size_t avail_bytes = 6u + 2u * size;
  size_t used_off = (desc_bytes + avail_bytes + 3) & ~size_t{3};
  size_t total = used_off + 6u + 8u * size;
  unsigned order = 0;
  while ((kPageSize << order) < total) ++order;
  VmPage* block = vm_page_alloc(order);
  if (!block) return false;
  auto* base = static_cast<uint8_t*>(vm_page_to_virt(block));
  memset(base, 0, kPageSize << order);
  paddr_t phys = vm_page_to_phys(block);

  desc_ = reinterpret_cast<volatile Desc*>(base);
  avail_ = reinterpret_cast<volatile uint16_t*>(base + desc_bytes);
  used_ = reinterpret_cast<volatile uint16_t*>(base + used_off);
  index_ = index;
  size_ = size;
  for (uint16_t i = 0; i < size; ++i) desc_[i].next = static_cast<uint16_t>(i + 1);
  free_head_ = 0;
  free_count_ = size;
  notify_ = dev.queue_notify_address(index);
  if (!notify_ || !dev.queue_enable(index, size, phys, phys + desc_bytes, phys + used_off,
                                    msix_entry)) {
    vm_page_free(block, order);
    return false;
  }
  return true;
}

void Virtqueue::add(const VirtqSegment* segs, unsigned n, uint16_t* head) {
  // The free descriptors are chained through `next` already, so the chain handed to the
  // device is the first n of the free list.
  uint16_t first = free_head_;
  uint16_t i = first;
  for (unsigned k = 0; k < n; ++k) {
    volatile Desc& d = desc_[i];
    d.addr = segs[k].addr;
    d.len = segs[k].len;
    d.flags = static_cast<uint16_t>((k + 1 < n ? kDescNext : 0) |
                                    (segs[k].device_writes ? kDescWrite : 0));
    i = d.next;
  }
  free_head_ = i;
  free_count_ = static_cast<uint16_t>(free_count_ - n);
  avail_[2 + avail_idx_ % size_] = first;
  // The ring entry before the index that publishes it (2.6.13.2).
  __atomic_thread_fence(__ATOMIC_RELEASE);
  avail_[1] = ++avail_idx_;
  *head = first;
}

void Virtqueue::kick() {
  // The index store must be visible before the flags are read (2.6.13.6).
  full_barrier();
  if (!(used_[0] & kUsedNoNotify)) *notify_ = index_;
}

bool Virtqueue::pop_used(uint16_t* head, uint32_t* written) {
  for (;;) {
    if (last_used_ == used_[1]) return false;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    auto* ring = reinterpret_cast<volatile UsedElem*>(used_ + 2);
    uint32_t id = ring[last_used_ % size_].id;
    uint32_t len = ring[last_used_ % size_].len;
    ++last_used_;
    if (id >= size_) {
      klog("virtio: queue %u: device used descriptor %u of %u; ignored", index_, id, size_);
      continue;
    }
    // Back on the free list, the whole chain at once.
    uint16_t last = static_cast<uint16_t>(id);
    unsigned count = 1;
    while ((desc_[last].flags & kDescNext) && count < size_) {
      last = desc_[last].next;
      ++count;
    }
    desc_[last].next = free_head_;
    free_head_ = static_cast<uint16_t>(id);
    free_count_ = static_cast<uint16_t>(free_count_ + count);
    *head = static_cast<uint16_t>(id);
    *written = len;
    return true;
  }
}
