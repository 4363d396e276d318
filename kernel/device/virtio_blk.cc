// virtio-blk: device set-up, requests and their completion.
#include "device/virtio_blk.h"

#include <device/device_types.h>

#include "device/interrupt.h"
#include "kern/log.h"
#include "kern/sched.h"
#include "lib/new.h"
#include "lib/string.h"
#include "vm/vm_page.h"

namespace {

constexpr uint16_t kDeviceTransitional = 0x1001;  // virtio-blk-pci with its legacy interface
constexpr uint16_t kDeviceModern = 0x1042;        // 0x1040 + device type 2 (disable-legacy=on)

// Feature bits (5.2.3). SEG_MAX bounds the segments of a request; RO makes the disk read-only.
// FLUSH is not taken: without it the device writes through (5.2.6.2), so a finished write is
// on the disk, which is what a pager needs.
constexpr uint64_t kFeatureSegMax = 1ull << 2;
constexpr uint64_t kFeatureRo = 1ull << 5;

// struct virtio_blk_config (5.2.4) and struct virtio_blk_req (5.2.6).
constexpr uint32_t kConfigCapacity = 0, kConfigSegMax = 12;
constexpr uint32_t kRequestIn = 0, kRequestOut = 1;
constexpr uint8_t kStatusOk = 0;
constexpr uint8_t kStatusPending = 0xff;  // not a status the device writes

// Without MSI-X the requester polls the used ring at each timer tick.
constexpr uint64_t kPollNs = 1'000'000;

constinit VirtioBlk units[kMaxVirtioBlk];
unsigned unit_count;

}  // namespace

bool VirtioBlk::attach(const PciDevice& pci) {
  if (!transport_.attach(pci)) return false;
  uint64_t features = transport_.negotiate(kVirtioFVersion1 | kFeatureSegMax | kFeatureRo);
  if (!features) {
    klog("virtio-blk %02x:%02x.%x: feature negotiation failed", pci.bus, pci.slot,
         pci.function);
    return false;
  }
  sectors_ = transport_.config_read64(kConfigCapacity);
  read_only_ = (features & kFeatureRo) != 0;
  uint16_t max = transport_.queue_max_size(0);
  if (max < 3) {
    klog("virtio-blk %02x:%02x.%x: queue too small (%u)", pci.bus, pci.slot, pci.function, max);
    transport_.fail();
    return false;
  }
  // A split ring's size is a power of 2.
  uint16_t size = 1;
  while (size * 2 <= max && size * 2 <= kMaxQueueSize) size = static_cast<uint16_t>(size * 2);
  // Header and status take two descriptors of each chain.
  max_segments_ = kMaxSegments < size - 2u ? kMaxSegments : size - 2u;
  if (features & kFeatureSegMax) {
    uint32_t seg_max = transport_.config_read32(kConfigSegMax);
    if (seg_max && seg_max < max_segments_) max_segments_ = seg_max;
  }

  VmPage* page = vm_page_grab();
  if (!page) {
    transport_.fail();
    return false;
  }
  dma_ = static_cast<uint8_t*>(vm_page_to_virt(page));
  memset(dma_, 0, kPageSize);
  dma_phys_ = vm_page_to_phys(page);

  uint8_t vector = device_irq_alloc(&VirtioBlk::interrupt, this);
  msix_ = vector && transport_.msix_route(0, vector);
  if (!queue_.init(transport_, 0, size, msix_ ? 0 : 0xffff)) {
    // The device would not take the vector: complete by polling instead.
    msix_ = false;
    if (!queue_.init(transport_, 0, size, 0xffff)) {
      klog("virtio-blk %02x:%02x.%x: queue set-up failed", pci.bus, pci.slot, pci.function);
      vm_page_release(page);
      transport_.fail();
      return false;
    }
  }
  transport_.driver_ok();
  klog("virtio-blk %02x:%02x.%x: %lu sectors (%lu MiB)%s, queue %u, %u segments, %s",
       pci.bus, pci.slot, pci.function, sectors_, sectors_ >> 11,
       read_only_ ? ", read-only" : "", size, max_segments_,
       msix_ ? "MSI-X" : "polled");
  return true;
}

int VirtioBlk::transfer(bool write, uint64_t sector, const DmaSegment* segs, unsigned n) {
  kassert(n > 0 && n <= max_segments_);
  VirtqSegment chain[kMaxSegments + 2];
  IrqState irq = arch_irq_disable();
  lock_.lock();
  // A free slot, and descriptors for the whole chain.
  unsigned s;
  for (;;) {
    for (s = 0; s < kSlots && slots_[s].busy; ++s) {
    }
    if (s < kSlots && queue_.free_descriptors() >= n + 2) break;
    assert_wait(&slots_);
    lock_.unlock();
    thread_block();
    lock_.lock();
  }
  Slot& slot = slots_[s];
  slot.busy = true;
  slot.done = false;

  uint8_t* header = dma_ + s * kSlotBytes;
  uint32_t type = write ? kRequestOut : kRequestIn;
  uint32_t reserved = 0;
  memcpy(header, &type, 4);
  memcpy(header + 4, &reserved, 4);
  memcpy(header + 8, &sector, 8);
  header[16] = kStatusPending;
  paddr_t header_phys = dma_phys_ + s * kSlotBytes;
  chain[0] = VirtqSegment{header_phys, 16, false};
  for (unsigned i = 0; i < n; ++i) chain[i + 1] = VirtqSegment{segs[i].addr, segs[i].len, !write};
  chain[n + 1] = VirtqSegment{header_phys + 16, 1, true};
  uint16_t head;
  queue_.add(chain, n + 2, &head);
  head_slot_[head] = static_cast<uint8_t>(s);
  queue_.kick();

  while (!slot.done) {
    assert_wait(&slot, msix_ ? 0 : kPollNs);
    lock_.unlock();
    thread_block();
    lock_.lock();
    // Polling mode needs it; otherwise it only matters for a thread being terminated, whose
    // waits end at once: it must still not leave before the device has let go of the memory.
    reap_locked();
  }
  uint8_t status = slot.status;
  slot.busy = false;
  thread_wakeup(&slots_);
  lock_.unlock();
  arch_irq_restore(irq);
  return status == kStatusOk ? D_SUCCESS : D_IO_ERROR;
}

void VirtioBlk::interrupt(void* self) {
  auto* blk = static_cast<VirtioBlk*>(self);
  SpinGuard g(blk->lock_);
  blk->reap_locked();
}

void VirtioBlk::reap_locked() {
  uint16_t head;
  uint32_t written;
  while (queue_.pop_used(&head, &written)) {
    unsigned s = head_slot_[head];
    if (s >= kSlots || !slots_[s].busy || slots_[s].done) continue;
    slots_[s].status = dma_[s * kSlotBytes + 16];
    slots_[s].done = true;
    thread_wakeup(&slots_[s]);
  }
}

unsigned virtio_blk_probe() {
  constexpr uint16_t kIds[] = {kDeviceTransitional, kDeviceModern};
  for (uint16_t id : kIds) {
    for (unsigned i = 0; unit_count < kMaxVirtioBlk; ++i) {
      const PciDevice* pci = pci_find(kVirtioVendor, id, i);
      if (!pci) break;
      // A device that failed to attach leaves its slot as it found it for the next one.
      new (&units[unit_count]) VirtioBlk();
      if (units[unit_count].attach(*pci)) ++unit_count;
    }
  }
  return unit_count;
}

VirtioBlk* virtio_blk_unit(unsigned unit) { return unit < unit_count ? &units[unit] : nullptr; }
