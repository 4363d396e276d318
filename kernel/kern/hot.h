// Code of the RPC path (mach_msg's fast path and what it calls), which the kernel's linker
// script gathers on a few pages: under the emulator each page of code first reached after an
// address-space switch costs a TLB refill and a lookup per translation block.
#pragma once

#define MICA_HOT [[gnu::section(".text.hot")]]
