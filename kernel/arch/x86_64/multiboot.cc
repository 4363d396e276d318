// Reading the Multiboot 1 information: memory map, modules and command line.
#include "arch/x86_64/multiboot.h"

#include "kern/assert.h"
#include "lib/string.h"

extern "C" char __kernel_phys_start[], __bss_end_phys[];

namespace {

struct MbInfo {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length, mmap_addr;
} __attribute__((packed));

struct MbModule {
  uint32_t start, end, string, reserved;
};

struct MbMmap {
  uint32_t size;
  uint64_t addr, len;
  uint32_t type;
} __attribute__((packed));

// Removes [lo, hi) from the RAM ranges, splitting a range if needed.
void reserve(BootInfo& info, paddr_t lo, paddr_t hi) {
  lo = trunc_page(lo);
  hi = round_page(hi);
  for (unsigned i = 0; i < info.ram_count; ++i) {
    PhysRange& r = info.ram[i];
    if (hi <= r.base || lo >= r.end) continue;
    if (lo <= r.base && hi >= r.end) {
      r = info.ram[--info.ram_count];
      --i;
    } else if (lo <= r.base) {
      r.base = hi;
    } else if (hi >= r.end) {
      r.end = lo;
    } else if (info.ram_count < BootInfo::kMaxRanges) {
      info.ram[info.ram_count++] = PhysRange{hi, r.end};
      r.end = lo;
    } else {
      r.end = lo;  // out of slots: lose the tail rather than hand out a reserved page
    }
  }
}

template <class T>
T* phys(uint64_t pa) {
  return static_cast<T*>(arch_phys_to_virt(pa));
}

}  // namespace

void multiboot_parse(uint32_t magic, uint32_t info_pa, BootInfo& info) {
  if (magic != 0x2BADB002) panic("not booted by a Multiboot loader (magic %x)", magic);
  auto* mb = phys<MbInfo>(info_pa);
  if (mb->flags & (1u << 2)) info.cmdline = phys<const char>(mb->cmdline);
  if (!(mb->flags & (1u << 6))) panic("the loader gave no memory map");

  for (uint64_t p = mb->mmap_addr; p < uint64_t{mb->mmap_addr} + mb->mmap_length;) {
    auto* e = phys<MbMmap>(p);
    if (e->type == 1 && info.ram_count < BootInfo::kMaxRanges) {
      paddr_t lo = round_page(e->addr), hi = trunc_page(e->addr + e->len);
      if (hi > lo) info.ram[info.ram_count++] = PhysRange{lo, hi};
      if (hi > info.max_phys) info.max_phys = hi;
    }
    p += e->size + 4;
  }

  // Low memory keeps the BIOS data, the loader's structures and the AP start-up page.
  reserve(info, 0, 0x100000);
  reserve(info, reinterpret_cast<paddr_t>(__kernel_phys_start),
          reinterpret_cast<paddr_t>(__bss_end_phys));
  reserve(info, info_pa, info_pa + sizeof(MbInfo));
  reserve(info, mb->mmap_addr, mb->mmap_addr + mb->mmap_length);

  if (mb->flags & (1u << 3)) {
    auto* mods = phys<MbModule>(mb->mods_addr);
    reserve(info, mb->mods_addr, mb->mods_addr + mb->mods_count * sizeof(MbModule));
    for (unsigned i = 0; i < mb->mods_count && i < BootInfo::kMaxModules; ++i) {
      info.modules[info.module_count++] =
          BootModule{mods[i].start, mods[i].end, mods[i].string ? phys<const char>(mods[i].string) : ""};
      reserve(info, mods[i].start, mods[i].end);
      if (mods[i].string) {
        const char* s = phys<const char>(mods[i].string);
        reserve(info, mods[i].string, mods[i].string + strlen(s) + 1);
      }
    }
  }
  if (info.cmdline && *info.cmdline) {
    paddr_t c = mb->cmdline;
    reserve(info, c, c + strlen(info.cmdline) + 1);
  }
}

bool boot_option(const BootInfo& info, const char* opt) {
  size_t n = strlen(opt);
  for (const char* p = info.cmdline; p && *p;) {
    while (*p == ' ') ++p;
    const char* w = p;
    while (*p && *p != ' ') ++p;
    if (static_cast<size_t>(p - w) == n && strncmp(w, opt, n) == 0) return true;
  }
  return false;
}
