// Post-mortem support used by panic().
#pragma once

// Print a symbolized backtrace starting at the given frame pointer.
void arch_backtrace(const void* frame);
// Stop every other CPU (an NMI-like IPI); used once, by panic.
void arch_stop_other_cpus();
// End the machine after a panic (QEMU's debug-exit device, else halt).
[[noreturn]] void arch_panic_exit();
