// What the boot loader told us, in machine-independent form (filled by the arch layer).
#pragma once
#include "machine/memory.h"

struct BootModule {
  paddr_t start = 0;
  paddr_t end = 0;
  const char* cmdline = "";  // as given by the loader: "NAME '${host-port}' ... '$(task-resume)'"
};

struct BootInfo {
  static constexpr unsigned kMaxModules = 16;
  static constexpr unsigned kMaxRanges = 32;
  const char* cmdline = "";
  BootModule modules[kMaxModules];
  unsigned module_count = 0;
  PhysRange ram[kMaxRanges];  // usable RAM, with the kernel and modules already removed
  unsigned ram_count = 0;
  paddr_t max_phys = 0;
};

// Returns true if word `opt` appears in the kernel command line.
bool boot_option(const BootInfo& info, const char* opt);
