// The table of device interrupt handlers.
#include "device/interrupt.h"

#include "arch/x86_64/apic.h"
#include "kern/log.h"

namespace {

struct Handler {
  DeviceIrqHandler fn;
  void* arg;
};

// Filled at boot before the vectors are routed anywhere; read-only afterwards, so the
// interrupt path needs no lock.
Handler handlers[kVectorDeviceCount];
unsigned handlers_used;

}  // namespace

uint8_t device_irq_alloc(DeviceIrqHandler handler, void* arg) {
  if (handlers_used == kVectorDeviceCount) return 0;
  handlers[handlers_used] = Handler{handler, arg};
  return static_cast<uint8_t>(kVectorDeviceFirst + handlers_used++);
}

void device_interrupt(uint8_t vector) {
  unsigned i = vector - kVectorDeviceFirst;
  if (i < handlers_used) {
    handlers[i].fn(handlers[i].arg);
  } else {
    klog("device interrupt on unused vector %u", vector);
  }
}
