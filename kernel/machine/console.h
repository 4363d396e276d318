// The console device, as the kernel log uses it.
#pragma once
void arch_console_putc(char c);
