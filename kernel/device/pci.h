// PCI through configuration mechanism #1 (I/O ports 0xCF8/0xCFC): enough of the bus to find
// devices by vendor and device id, read their BARs and walk their capability lists. Every
// function of every bus is probed once at boot (pci_init); the list never changes after.
//
// Locking: the address/data port pair is one device shared by all CPUs, so each access takes
// pci_lock (a spin lock, interrupts off), the innermost lock of the kernel.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "machine/memory.h"

inline constexpr uint8_t kPciCapMsix = 0x11;
inline constexpr uint8_t kPciCapVendor = 0x09;

// One decoded base address register.
struct PciBar {
  enum class Kind : uint8_t { kNone, kIo, kMemory };
  Kind kind = Kind::kNone;
  uint64_t base = 0;  // I/O port or physical address
  uint64_t size = 0;
};

struct PciDevice {
  uint8_t bus = 0, slot = 0, function = 0;
  uint16_t vendor = 0, device = 0;
  uint8_t class_code = 0, subclass = 0;
  PciBar bars[6];
};

// Probes every bus, slot and function; decodes the BARs of what it finds. Once, at boot.
void pci_init();

// The `index`th device (in bus order) with this vendor and device id, or nullptr.
const PciDevice* pci_find(uint16_t vendor, uint16_t device, unsigned index);

// Configuration space of `d` at `offset` (aligned to the access size).
uint32_t pci_read32(const PciDevice& d, uint8_t offset);
uint16_t pci_read16(const PciDevice& d, uint8_t offset);
uint8_t pci_read8(const PciDevice& d, uint8_t offset);
void pci_write32(const PciDevice& d, uint8_t offset, uint32_t value);
void pci_write16(const PciDevice& d, uint8_t offset, uint16_t value);

// Offset of the first capability with `id` after the one at `after` (0: from the start of
// the list), or 0 if there is none. A malformed list (a loop, an offset into the header)
// ends the walk.
uint8_t pci_find_capability(const PciDevice& d, uint8_t id, uint8_t after = 0);

// Turns on memory-space decoding and bus mastering (DMA), and masks the INTx line: the
// drivers here interrupt through MSI-X.
void pci_enable(const PciDevice& d);

// The kernel address of [offset, offset + len) inside memory BAR `bar`, through the direct
// map, or nullptr when the BAR is not memory, the range is outside it, or it lies above
// 4 GiB (the direct map is only sure to cover physical addresses below 4 GiB, where the
// firmware puts BARs on QEMU's machines; pmap_bootstrap).
volatile void* pci_bar_map(const PciDevice& d, unsigned bar, uint64_t offset, uint64_t len);
