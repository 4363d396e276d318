// The local APIC: per-CPU timer and inter-processor interrupts.
#pragma once
#include <stdint.h>

inline constexpr uint8_t kVectorTimer = 0x20;
// Device interrupts (MSI-X messages): kernel/device/interrupt.h hands them out. Above the
// legacy PICs' 0x50-0x5f, where pic_disable parks them.
inline constexpr uint8_t kVectorDeviceFirst = 0x60;
inline constexpr uint8_t kVectorDeviceCount = 16;
inline constexpr uint8_t kVectorReschedule = 0xf1;
inline constexpr uint8_t kVectorTlb = 0xf2;
inline constexpr uint8_t kVectorStop = 0xf3;
inline constexpr uint8_t kVectorSpurious = 0xff;

// Boot CPU: measure the TSC and the APIC timer against the PIT.
void apic_calibrate();
// Enables this CPU's local APIC and starts its periodic timer at `hz`.
void apic_init_cpu(unsigned hz);
unsigned apic_id();
void apic_eoi();
void apic_send_ipi(unsigned apic_id, uint8_t vector);
void apic_send_init(unsigned apic_id);
void apic_send_startup(unsigned apic_id, uint8_t page);
// INIT and STARTUP to every CPU but this one.
void apic_broadcast_init();
void apic_broadcast_startup(uint8_t page);
void delay_us(uint64_t us);
