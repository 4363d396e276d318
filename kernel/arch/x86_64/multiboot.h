#pragma once
#include <stdint.h>

#include "kern/boot_info.h"

// Fills `info` from the Multiboot information at physical address `info_pa`. The direct map
// must already cover the loader's structures (the boot page tables map the first 1 GiB).
void multiboot_parse(uint32_t magic, uint32_t info_pa, BootInfo& info);
