// PCI configuration mechanism #1 and the boot-time scan of the buses.
#include "device/pci.h"

#include "arch/x86_64/io.h"
#include "kern/lock.h"
#include "kern/log.h"

namespace {

constexpr uint16_t kConfigAddress = 0xcf8;
constexpr uint16_t kConfigData = 0xcfc;
constexpr uint8_t kRegVendor = 0x00, kRegCommand = 0x04, kRegStatus = 0x06, kRegClass = 0x08,
                  kRegHeaderType = 0x0e, kRegBar0 = 0x10, kRegCapPtr = 0x34;
constexpr uint16_t kCommandIo = 1u << 0, kCommandMemory = 1u << 1, kCommandMaster = 1u << 2,
                   kCommandIntxOff = 1u << 10;
constexpr uint16_t kStatusCapList = 1u << 4;
constexpr unsigned kMaxDevices = 64;  // far more than QEMU's machines hold

SpinLock pci_lock;
PciDevice devices[kMaxDevices];
unsigned device_count;

uint32_t address(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset) {
  return 0x80000000u | uint32_t{bus} << 16 | uint32_t{slot} << 11 | uint32_t{function} << 8 |
         (offset & 0xfc);
}

uint32_t config_read(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset) {
  IrqSpinGuard g(pci_lock);
  outl(kConfigAddress, address(bus, slot, function, offset));
  return inl(kConfigData);
}

void config_write(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset, uint32_t v) {
  IrqSpinGuard g(pci_lock);
  outl(kConfigAddress, address(bus, slot, function, offset));
  outl(kConfigData, v);
}

// Sizes BAR `i` by writing all ones and reading back what sticks (PCI 3.0, 6.2.5.1); the
// caller has turned decoding off. Returns the number of BAR registers used (2 for 64-bit).
unsigned decode_bar(PciDevice& d, unsigned i) {
  uint8_t reg = static_cast<uint8_t>(kRegBar0 + 4 * i);
  uint32_t lo = config_read(d.bus, d.slot, d.function, reg);
  config_write(d.bus, d.slot, d.function, reg, 0xffffffff);
  uint32_t lo_mask = config_read(d.bus, d.slot, d.function, reg);
  config_write(d.bus, d.slot, d.function, reg, lo);
  PciBar& b = d.bars[i];
  if (lo & 1) {
    uint32_t mask = lo_mask & ~3u & 0xffff;
    if (!mask) return 1;
    b.kind = PciBar::Kind::kIo;
    b.base = lo & ~3u;
    b.size = (~mask + 1) & 0xffff;
    return 1;
  }
  bool is64 = ((lo >> 1) & 3) == 2;
  uint64_t base = lo & ~0xfull;
  uint64_t mask = lo_mask & ~0xfull;
  if (is64 && i < 5) {
    uint8_t hreg = static_cast<uint8_t>(reg + 4);
    uint32_t hi = config_read(d.bus, d.slot, d.function, hreg);
    config_write(d.bus, d.slot, d.function, hreg, 0xffffffff);
    uint32_t hi_mask = config_read(d.bus, d.slot, d.function, hreg);
    config_write(d.bus, d.slot, d.function, hreg, hi);
    base |= uint64_t{hi} << 32;
    mask |= uint64_t{hi_mask} << 32;
  } else {
    mask |= 0xffffffff00000000ull;
  }
  if (mask & 0xfffffff0ull) {
    b.kind = PciBar::Kind::kMemory;
    b.base = base;
    b.size = ~mask + 1;
  }
  return is64 ? 2 : 1;
}

void add_function(uint8_t bus, uint8_t slot, uint8_t function, uint32_t id) {
  if (device_count == kMaxDevices) {
    klog("pci: more than %u functions, %02x:%02x.%x ignored", kMaxDevices, bus, slot, function);
    return;
  }
  PciDevice& d = devices[device_count++];
  d.bus = bus;
  d.slot = slot;
  d.function = function;
  d.vendor = static_cast<uint16_t>(id);
  d.device = static_cast<uint16_t>(id >> 16);
  uint32_t cls = config_read(bus, slot, function, kRegClass);
  d.class_code = static_cast<uint8_t>(cls >> 24);
  d.subclass = static_cast<uint8_t>(cls >> 16);
  uint8_t header = static_cast<uint8_t>(config_read(bus, slot, function, kRegHeaderType) >> 16);
  if ((header & 0x7f) != 0) return;  // bridges: their windows are the firmware's business
  // Decoding off while the BARs hold all ones, so that the device answers no stray address.
  uint16_t command = pci_read16(d, kRegCommand);
  pci_write16(d, kRegCommand, command & ~(kCommandIo | kCommandMemory));
  for (unsigned i = 0; i < 6;) i += decode_bar(d, i);
  pci_write16(d, kRegCommand, command);
}

}  // namespace

void pci_init() {
  // Every bus number, rather than following the bridges: 8192 reads, a few milliseconds.
  for (unsigned b = 0; b < 256; ++b) {
    auto bus = static_cast<uint8_t>(b);
    for (uint8_t slot = 0; slot < 32; ++slot) {
      uint32_t id = config_read(bus, slot, 0, kRegVendor);
      if ((id & 0xffff) == 0xffff) continue;
      auto header = static_cast<uint8_t>(config_read(bus, slot, 0, kRegHeaderType) >> 16);
      add_function(bus, slot, 0, id);
      if (!(header & 0x80)) continue;  // single-function device
      for (uint8_t fn = 1; fn < 8; ++fn) {
        uint32_t fid = config_read(bus, slot, fn, kRegVendor);
        if ((fid & 0xffff) != 0xffff) add_function(bus, slot, fn, fid);
      }
    }
  }
  klog("pci: %u functions", device_count);
}

const PciDevice* pci_find(uint16_t vendor, uint16_t device, unsigned index) {
  for (unsigned i = 0; i < device_count; ++i)
    if (devices[i].vendor == vendor && devices[i].device == device && index-- == 0)
      return &devices[i];
  return nullptr;
}

uint32_t pci_read32(const PciDevice& d, uint8_t offset) {
  return config_read(d.bus, d.slot, d.function, offset);
}

uint16_t pci_read16(const PciDevice& d, uint8_t offset) {
  return static_cast<uint16_t>(pci_read32(d, offset) >> ((offset & 2) * 8));
}

uint8_t pci_read8(const PciDevice& d, uint8_t offset) {
  return static_cast<uint8_t>(pci_read32(d, offset) >> ((offset & 3) * 8));
}

void pci_write32(const PciDevice& d, uint8_t offset, uint32_t value) {
  config_write(d.bus, d.slot, d.function, offset, value);
}

void pci_write16(const PciDevice& d, uint8_t offset, uint16_t value) {
  // A read-modify-write of the dword: the other half is written back as read. The status
  // register (the upper half of the command dword) clears its error bits on a written 1, so
  // they are written as 0 instead.
  IrqSpinGuard g(pci_lock);
  outl(kConfigAddress, address(d.bus, d.slot, d.function, offset));
  uint32_t v = inl(kConfigData);
  if ((offset & 0xfc) == kRegCommand) v &= 0x0000ffff;
  unsigned shift = (offset & 2) * 8;
  v = (v & ~(0xffffu << shift)) | uint32_t{value} << shift;
  outl(kConfigData, v);
}

uint8_t pci_find_capability(const PciDevice& d, uint8_t id, uint8_t after) {
  if (!(pci_read16(d, kRegStatus) & kStatusCapList)) return 0;
  uint8_t at = after ? static_cast<uint8_t>(pci_read8(d, after + 1) & 0xfc)
                     : static_cast<uint8_t>(pci_read8(d, kRegCapPtr) & 0xfc);
  // 48 capabilities fill the 192 bytes after the header: more means a loop.
  for (unsigned n = 0; at >= 0x40 && n < 48; ++n) {
    if (pci_read8(d, at) == id) return at;
    at = static_cast<uint8_t>(pci_read8(d, at + 1) & 0xfc);
  }
  return 0;
}

void pci_enable(const PciDevice& d) {
  uint16_t command = pci_read16(d, kRegCommand);
  pci_write16(d, kRegCommand, command | kCommandMemory | kCommandMaster | kCommandIntxOff);
}

volatile void* pci_bar_map(const PciDevice& d, unsigned bar, uint64_t offset, uint64_t len) {
  if (bar >= 6) return nullptr;
  const PciBar& b = d.bars[bar];
  if (b.kind != PciBar::Kind::kMemory || offset > b.size || len > b.size - offset) return nullptr;
  uint64_t pa = b.base + offset;
  if (pa + len > (4ull << 30)) return nullptr;
  return static_cast<volatile void*>(arch_phys_to_virt(pa));
}
