// Device interrupts: each source (an MSI-X table entry) gets one local APIC vector of its own
// from kVectorDeviceFirst on (arch/x86_64/apic.h), and trap_dispatch calls its handler.
// Vectors are handed out at boot and never given back.
#pragma once
#include <stdint.h>

using DeviceIrqHandler = void (*)(void* arg);

// Reserves a vector that will call handler(arg), with interrupts off, on the CPU that takes
// the interrupt. Returns the vector, or 0 when all are in use.
uint8_t device_irq_alloc(DeviceIrqHandler handler, void* arg);

// trap_dispatch: `vector` (a device vector) has fired. The caller sends the EOI.
void device_interrupt(uint8_t vector);
