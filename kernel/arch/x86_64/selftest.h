#pragma once
// Boot option mica.selftest: in-kernel tests of the machine layer (pmap, TLB shootdown).
void arch_selftest();
